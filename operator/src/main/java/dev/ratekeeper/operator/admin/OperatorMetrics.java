package dev.ratekeeper.operator.admin;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;

/**
 * The operator's Prometheus metrics:
 * {@code ratekeeper_operator_reconciles_total{outcome}} (accepted | refused | failed | deleted),
 * {@code ratekeeper_operator_reconcile_seconds} (histogram),
 * {@code ratekeeper_operator_reconcile_errors_total},
 * {@code ratekeeper_operator_redis_errors_total},
 * {@code ratekeeper_operator_revisions_published_total}.
 */
public final class OperatorMetrics {
  public static final String ACCEPTED = "accepted";
  public static final String REFUSED = "refused";
  public static final String FAILED = "failed";
  public static final String DELETED = "deleted";

  private final MeterRegistry registry;
  private final Timer reconcileTimer;
  private final Counter reconcileErrors;
  private final Counter redisErrors;
  private final Counter published;

  public OperatorMetrics(MeterRegistry registry) {
    this.registry = registry;
    this.reconcileTimer = Timer.builder("ratekeeper.operator.reconcile")
        .description("Time to reconcile one RateLimitPolicy")
        .publishPercentileHistogram()
        .minimumExpectedValue(Duration.ofMillis(1))
        .maximumExpectedValue(Duration.ofSeconds(10))
        .register(registry);
    this.reconcileErrors = Counter.builder("ratekeeper.operator.reconcile.errors")
        .description("Reconciles that failed and will be retried").register(registry);
    this.redisErrors = Counter.builder("ratekeeper.operator.redis.errors")
        .description("Redis calls that failed (unreachable, timeout or error reply)").register(registry);
    this.published = Counter.builder("ratekeeper.operator.revisions.published")
        .description("Times a new revision was made current in Redis").register(registry);
    for (String outcome : new String[] {ACCEPTED, REFUSED, FAILED, DELETED}) {
      reconciles(outcome);
    }
  }

  public void reconciled(String outcome, long nanos) {
    reconciles(outcome).increment();
    reconcileTimer.record(Duration.ofNanos(nanos));
  }

  public void reconcileError() {
    reconcileErrors.increment();
  }

  public void redisError() {
    redisErrors.increment();
  }

  public void revisionPublished() {
    published.increment();
  }

  public MeterRegistry registry() {
    return registry;
  }

  private Counter reconciles(String outcome) {
    return Counter.builder("ratekeeper.operator.reconciles")
        .description("RateLimitPolicy reconciles by outcome")
        .tag("outcome", outcome)
        .register(registry);
  }
}
