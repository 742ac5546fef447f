package dev.ratekeeper.sidecar.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The sidecar's Prometheus metrics, names as DESIGN.md fixes them:
 * {@code ratekeeper_requests_total{upstream,model,tier,decision}},
 * {@code ratekeeper_tokens_total{model,tier,direction}}, {@code ratekeeper_spend_usd_total{model,tier}},
 * {@code ratekeeper_decision_seconds}, {@code ratekeeper_upstream_seconds}, {@code ratekeeper_inflight},
 * {@code ratekeeper_store_up}, {@code ratekeeper_policy_revision_info{revision}}; plus
 * {@code ratekeeper_throttled_total{dimension}} and {@code ratekeeper_queue_wait_seconds}.
 */
public final class SidecarMetrics {
  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Timer decision;
  private final Timer upstream;
  private final AtomicInteger inflight = new AtomicInteger();
  private final AtomicInteger storeUp = new AtomicInteger(1);
  private final MultiGauge revisionInfo;
  private final ConcurrentHashMap<List<String>, Counter> counters = new ConcurrentHashMap<>();

  public SidecarMetrics() {
    decision = Timer.builder("ratekeeper.decision").description("Time to decide admission (one store round trip)")
        .publishPercentileHistogram().minimumExpectedValue(Duration.ofNanos(50_000))
        .maximumExpectedValue(Duration.ofSeconds(2)).register(registry);
    upstream = Timer.builder("ratekeeper.upstream").description("Time from forwarding to the upstream's last byte")
        .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1))
        .maximumExpectedValue(Duration.ofMinutes(10)).register(registry);
    Gauge.builder("ratekeeper.inflight", inflight, AtomicInteger::get)
        .description("Requests in flight through this sidecar").register(registry);
    Gauge.builder("ratekeeper.store.up", storeUp, AtomicInteger::get)
        .description("1 while the limit store (Redis) answers, 0 while degraded").register(registry);
    revisionInfo = MultiGauge.builder("ratekeeper.policy.revision.info")
        .description("The policy revision this sidecar enforces (value 1)").register(registry);
  }

  public PrometheusMeterRegistry registry() {
    return registry;
  }

  /** Prometheus text exposition. */
  public String scrape() {
    return registry.scrape();
  }

  public void request(String upstreamName, String model, String tier, String decisionName) {
    counter("ratekeeper.requests", "Requests by decision", "upstream", upstreamName, "model", model, "tier", tier,
        "decision", decisionName).increment();
  }

  public void throttled(String dimension) {
    counter("ratekeeper.throttled", "Denials by limiting dimension", "dimension", dimension).increment();
  }

  public void tokens(String model, String tier, String direction, long count) {
    if (count > 0) {
      counter("ratekeeper.tokens", "LLM tokens by direction (input, output, cache_read, cache_write)",
          "model", model, "tier", tier, "direction", direction).increment(count);
    }
  }

  public void spend(String model, String tier, long micros) {
    if (micros > 0) {
      Counter c = counters.computeIfAbsent(List.of("ratekeeper.spend.usd", model, tier), k -> Counter
          .builder("ratekeeper.spend.usd").description("Spend in US dollars").tags("model", model, "tier", tier)
          .register(registry));
      c.increment(micros / 1_000_000.0); // both exact below 2^53: one correctly rounded division
    }
  }

  public void decisionTime(long nanos) {
    decision.record(nanos, TimeUnit.NANOSECONDS);
  }

  public void upstreamTime(long nanos) {
    upstream.record(nanos, TimeUnit.NANOSECONDS);
  }

  public void queueWait(long nanos) {
    Timer.builder("ratekeeper.queue.wait").description("Time requests waited for capacity")
        .publishPercentileHistogram().register(registry).record(nanos, TimeUnit.NANOSECONDS);
  }

  public AtomicInteger inflight() {
    return inflight;
  }

  /**
   * Something the resilient store did: {@code outage} (Redis judged unavailable), {@code late_answer}
   * (one admission given up waiting, served by the failure mode), {@code refunded} (what a late
   * admission charged given back), {@code replayed} (usage seen during an outage added to Redis).
   */
  public void storeEvent(String event) {
    counter("ratekeeper.store.events", "Outages, late answers, refunds and replays of the limit store", "event", event)
        .increment();
  }

  /**
   * A call charged on the sidecar's estimate instead of the provider's usage: {@code no_usage},
   * {@code cut_short}, {@code unpriced} or {@code upstream_failed} (a fixed set of labels).
   */
  public void estimatedCharge(String reason) {
    counter("ratekeeper.estimated.charges", "Calls charged on an estimate instead of the provider's usage", "reason",
        reason).increment();
  }

  public void storeUp(boolean up) {
    storeUp.set(up ? 1 : 0);
  }

  public boolean storeUp() {
    return storeUp.get() == 1;
  }

  public void revision(String revision) {
    revisionInfo.register(List.of(MultiGauge.Row.of(Tags.of("revision", revision), 1)), true);
  }

  private Counter counter(String name, String description, String... tags) {
    String[] key = new String[tags.length + 1];
    key[0] = name;
    System.arraycopy(tags, 0, key, 1, tags.length);
    return counters.computeIfAbsent(List.of(key),
        k -> Counter.builder(name).description(description).tags(tags).register(registry));
  }
}
