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
  /** Label sets whose counters are cached, across all counters ({@link Family}). */
  static final int MAX_CACHED = 4096;

  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Timer decision;
  private final Timer upstream;
  private final AtomicInteger inflight = new AtomicInteger();
  private final AtomicInteger storeUp = new AtomicInteger(1);
  private final MultiGauge revisionInfo;
  /** Counters made so far, across every family below: the bound of what the families cache. */
  private final AtomicInteger cachedCounters = new AtomicInteger();
  private final Family requests = new Family("ratekeeper.requests", "Requests by decision", "upstream", "model", "tier",
      "decision");
  private final Family throttled = new Family("ratekeeper.throttled", "Denials by limiting dimension", "dimension");
  private final Family tokens = new Family("ratekeeper.tokens",
      "LLM tokens by direction (input, output, cache_read, cache_write)", "model", "tier", "direction");
  private final Family spend = new Family("ratekeeper.spend.usd", "Spend in US dollars", "model", "tier");
  private final Family storeEvents = new Family("ratekeeper.store.events",
      "Outages, late answers, refunds and replays of the limit store", "event");
  private final Family estimatedCharges = new Family("ratekeeper.estimated.charges",
      "Calls charged on an estimate instead of the provider's usage", "reason");
  private volatile Timer queueWait;

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
    requests.counter(upstreamName, model, tier, decisionName).increment();
  }

  public void throttled(String dimension) {
    throttled.counter(dimension, null, null, null).increment();
  }

  public void tokens(String model, String tier, String direction, long count) {
    if (count > 0) {
      tokens.counter(model, tier, direction, null).increment(count);
    }
  }

  public void spend(String model, String tier, long micros) {
    if (micros > 0) {
      // both exact below 2^53: one correctly rounded division
      spend.counter(model, tier, null, null).increment(micros / 1_000_000.0);
    }
  }

  public void decisionTime(long nanos) {
    decision.record(nanos, TimeUnit.NANOSECONDS);
  }

  public void upstreamTime(long nanos) {
    upstream.record(nanos, TimeUnit.NANOSECONDS);
  }

  /** Registered at the first wait (a sidecar whose requests never wait shows no such timer). */
  public void queueWait(long nanos) {
    Timer timer = queueWait;
    if (timer == null) {
      timer = Timer.builder("ratekeeper.queue.wait").description("Time requests waited for capacity")
          .publishPercentileHistogram().register(registry); // the registry's own if two threads race here
      queueWait = timer;
    }
    timer.record(nanos, TimeUnit.NANOSECONDS);
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
    storeEvents.counter(event, null, null, null).increment();
  }

  /**
   * A call charged on the sidecar's estimate instead of the provider's usage: {@code no_usage},
   * {@code cut_short}, {@code unpriced} or {@code upstream_failed} (a fixed set of labels).
   */
  public void estimatedCharge(String reason) {
    estimatedCharges.counter(reason, null, null, null).increment();
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

  /**
   * The counters of one metric name, by label values (one to four labels), found without building a
   * key: one map level per label, the counter at the last. A label set is cached the first time it
   * is counted, so a request's lookups allocate nothing.
   *
   * <p>Bounded: label values come from the policy and the sidecar, never from a client (models as the
   * policy's model entries or {@code other}, {@link MetricLabels}; tiers and upstreams the policy's;
   * decisions, dimensions, directions, events and reasons fixed sets), and the registry keeps one
   * series per label set in any case. Past {@value #MAX_CACHED} counters in all, a new label set is
   * looked up in the registry each time (which finds the one it holds) rather than cached, so even a
   * label value that did come from a client could not grow this cache.
   */
  private final class Family {
    private final String name;
    private final String description;
    private final String[] labels;
    private final ConcurrentHashMap<String, Object> root = new ConcurrentHashMap<>();

    Family(String name, String description, String... labels) {
      this.name = name;
      this.description = description;
      this.labels = labels;
    }

    /** The counter of these label values, in the order of {@link #labels} (the unused ones null). */
    Counter counter(String v1, String v2, String v3, String v4) {
      Object node = root;
      int last = labels.length - 1;
      for (int i = 0; i <= last; i++) {
        String value = i == 0 ? v1 : i == 1 ? v2 : i == 2 ? v3 : v4;
        @SuppressWarnings("unchecked")
        ConcurrentHashMap<String, Object> level = (ConcurrentHashMap<String, Object>) node;
        Object next = level.get(value);
        if (next == null) {
          return i == last ? miss(level, v1, v2, v3, v4) : miss(level, i, v1, v2, v3, v4);
        }
        node = next;
      }
      return (Counter) node;
    }

    /** A label value not seen at level {@code i} (not the last): the path below it is made, then the counter. */
    private Counter miss(ConcurrentHashMap<String, Object> level, int i, String v1, String v2, String v3, String v4) {
      if (cachedCounters.get() >= MAX_CACHED) {
        return register(v1, v2, v3, v4);
      }
      String value = i == 0 ? v1 : i == 1 ? v2 : v3;
      level.computeIfAbsent(value, k -> new ConcurrentHashMap<String, Object>());
      return counter(v1, v2, v3, v4);
    }

    /** The last label's value not seen: registers the counter and keeps it, up to the bound. */
    private Counter miss(ConcurrentHashMap<String, Object> leaves, String v1, String v2, String v3, String v4) {
      Counter counter = register(v1, v2, v3, v4);
      if (cachedCounters.get() < MAX_CACHED) {
        String value = labels.length == 1 ? v1 : labels.length == 2 ? v2 : labels.length == 3 ? v3 : v4;
        if (leaves.putIfAbsent(value, counter) == null) {
          cachedCounters.incrementAndGet();
        }
      }
      return counter;
    }

    /** The registry's counter of these label values (it returns the one it holds when registered before). */
    private Counter register(String v1, String v2, String v3, String v4) {
      String[] tags = new String[2 * labels.length];
      for (int i = 0; i < labels.length; i++) {
        tags[2 * i] = labels[i];
        tags[2 * i + 1] = i == 0 ? v1 : i == 1 ? v2 : i == 2 ? v3 : v4;
      }
      return Counter.builder(name).description(description).tags(tags).register(registry);
    }
  }
}
