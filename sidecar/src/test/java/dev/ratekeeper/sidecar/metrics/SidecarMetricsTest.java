package dev.ratekeeper.sidecar.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Meter;
import org.junit.jupiter.api.Test;

/** Counters kept per label set: each increment lands on its own series, cached or not. */
class SidecarMetricsTest {
  @Test
  void eachLabelSetCountsOnItsOwnSeries() {
    SidecarMetrics metrics = new SidecarMetrics();
    metrics.request("anthropic", "claude-*", "free", "allowed");
    metrics.request("anthropic", "claude-*", "free", "allowed");
    metrics.request("anthropic", "claude-*", "free", "denied");
    metrics.request("anthropic", "other", "free", "allowed");
    metrics.tokens("claude-*", "free", "input", 120);
    metrics.tokens("claude-*", "free", "input", 30);
    metrics.tokens("claude-*", "free", "output", 7);
    metrics.tokens("claude-*", "free", "output", 0);
    metrics.spend("claude-*", "free", 1_500_000);
    metrics.spend("claude-*", "free", 250_000);
    metrics.throttled("tier.requests.perMinute");
    metrics.storeEvent("outage");
    metrics.storeEvent("outage");
    metrics.estimatedCharge("no_usage");
    metrics.queueWait(2_000_000);
    metrics.queueWait(3_000_000);

    assertThat(count(metrics, "ratekeeper.requests", "model", "claude-*", "decision", "allowed")).isEqualTo(2);
    assertThat(count(metrics, "ratekeeper.requests", "model", "claude-*", "decision", "denied")).isEqualTo(1);
    assertThat(count(metrics, "ratekeeper.requests", "model", "other", "decision", "allowed")).isEqualTo(1);
    assertThat(count(metrics, "ratekeeper.tokens", "direction", "input", "tier", "free")).isEqualTo(150);
    assertThat(count(metrics, "ratekeeper.tokens", "direction", "output", "tier", "free")).isEqualTo(7);
    assertThat(count(metrics, "ratekeeper.spend.usd", "model", "claude-*", "tier", "free")).isEqualTo(1.75);
    assertThat(count(metrics, "ratekeeper.throttled", "dimension", "tier.requests.perMinute", "dimension",
        "tier.requests.perMinute")).isEqualTo(1);
    assertThat(count(metrics, "ratekeeper.store.events", "event", "outage", "event", "outage")).isEqualTo(2);
    assertThat(count(metrics, "ratekeeper.estimated.charges", "reason", "no_usage", "reason", "no_usage")).isEqualTo(1);
    assertThat(metrics.registry().get("ratekeeper.queue.wait").timer().count()).isEqualTo(2);
    assertThat(metrics.registry().find("ratekeeper.requests").counters()).hasSize(3);
    assertThat(metrics.scrape()).contains("ratekeeper_requests_total{decision=\"allowed\",model=\"claude-*\","
        + "tier=\"free\",upstream=\"anthropic\"} 2.0");
  }

  @Test
  void pastTheCacheBoundEveryLabelSetIsStillCountedExactly() {
    SidecarMetrics metrics = new SidecarMetrics();
    int sets = SidecarMetrics.MAX_CACHED + 50;
    for (int round = 0; round < 3; round++) {
      for (int i = 0; i < sets; i++) {
        metrics.tokens("m" + i, "free", "input", 1);
      }
    }
    assertThat(metrics.registry().find("ratekeeper.tokens").counters()).hasSize(sets);
    for (Counter counter : metrics.registry().find("ratekeeper.tokens").counters()) {
      assertThat(counter.count()).as(counter.getId().toString()).isEqualTo(3);
    }
  }

  @Test
  void queueWaitIsAbsentUntilTheFirstWait() {
    SidecarMetrics metrics = new SidecarMetrics();
    assertThat(metrics.registry().find("ratekeeper.queue.wait").meters()).isEmpty();
    metrics.queueWait(1);
    assertThat(metrics.registry().find("ratekeeper.queue.wait").meters()).extracting(Meter::getId).hasSize(1);
  }

  private static double count(SidecarMetrics metrics, String name, String k1, String v1, String k2, String v2) {
    return metrics.registry().get(name).tags(k1, v1, k2, v2).counter().count();
  }
}
