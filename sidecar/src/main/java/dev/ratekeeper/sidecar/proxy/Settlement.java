package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.metrics.SidecarMetrics;
import dev.ratekeeper.sidecar.time.SidecarClock;
import dev.ratekeeper.sidecar.wire.AnswerUsage;
import dev.ratekeeper.sidecar.wire.Usage;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The one owner of an admitted exchange's settlement: it counts the call in flight from the moment
 * it is forwarded and, exactly once, decides and charges what was used — from how the exchange
 * ended and what the answer showed ({@link AnswerUsage}) — with the reconcile with the store (which
 * also gives back the concurrency lease), the token and spend metrics, the upstream time, and the
 * output the model produced for reservations by percentile. The forward stage only reports how the
 * exchange ended ({@link #answered}, {@link #cutShort}, {@link #failed}, {@link #throttled}); the
 * first report settles and later ones do nothing, so an answer's end, an upstream error and a client
 * that goes away may race freely.
 *
 * <p>Before a call is forwarded there is no exchange: an admission whose client left while it was
 * decided, or that is redone for a cheaper model, gives back its own charge ({@link Admission}).
 */
final class Settlement {
  private static final System.Logger LOG = System.getLogger(Settlement.class.getName());

  private final LimiterStore limiter;
  private final SidecarMetrics metrics;
  private final OutputHistory outputs;
  private final SidecarClock clock;
  private final AdmitRequest admitted;
  private final RequestPlan plan;
  private final long startedNanos;
  private final AtomicBoolean settled = new AtomicBoolean();

  Settlement(LimiterStore limiter, SidecarMetrics metrics, OutputHistory outputs, SidecarClock clock,
      AdmitRequest admitted, RequestPlan plan) {
    this.limiter = limiter;
    this.metrics = metrics;
    this.outputs = outputs;
    this.clock = clock;
    this.admitted = admitted;
    this.plan = plan;
    this.startedNanos = clock.nanos();
    metrics.inflight().incrementAndGet();
  }

  /** When the call was forwarded ({@link SidecarClock#nanos()}). */
  long startedNanos() {
    return startedNanos;
  }

  /** The reservation as if the call used all of it (a batch's charge). */
  Usage reservation() {
    return new Usage(plan.planned().inputEstimate(), plan.planned().outputCap(), 0, 0);
  }

  /**
   * The answer ended normally with {@code status}; {@code seen}: what it showed of its usage. A
   * message batch is charged its reservation; an error answer without usage nothing; an answer
   * without the provider's figures the sidecar's estimate.
   */
  void answered(int status, AnswerUsage seen) {
    AdmissionPlan.Planned planned = plan.planned();
    Usage usage;
    if (planned.settleAtReservation()) {
      usage = status >= 400 ? Usage.NONE : reservation();
    } else if (seen.reported() || status < 400) {
      Usage atEnd = seen.atEnd(planned.inputEstimate(), planned.outputCap());
      usage = atEnd != null ? atEnd : reservation();
    } else {
      usage = Usage.NONE;
    }
    boolean estimated = !seen.reported() && !usage.equals(Usage.NONE);
    settle(usage, estimated ? EstimateReason.NO_USAGE : null, !estimated && status < 400);
  }

  /**
   * The answer stopped before its end: the client or the provider hung up. {@code status}: the
   * answer's, 0 when none had begun; {@code seen}: what it showed so far, null when no answer had
   * begun. Charged what was used so far, and nothing for a provider throttle (429, 529) whose client
   * left while it was being shared.
   */
  void cutShort(int status, AnswerUsage seen) {
    if (status == 429 || status == 529) {
      throttled();
      return;
    }
    AdmissionPlan.Planned planned = plan.planned();
    Usage usage = planned.settleAtReservation() ? reservation()
        : seen != null ? seen.soFar(planned.inputEstimate()) : new Usage(planned.inputEstimate(), 0, 0, 0);
    settle(usage, seen != null && seen.reported() ? null : EstimateReason.CUT_SHORT, false);
  }

  /**
   * The upstream failed or timed out before answering: nothing is charged, though the provider may
   * bill a call that timed out after it was sent.
   */
  void failed() {
    settle(Usage.NONE, EstimateReason.UPSTREAM_FAILED, false);
  }

  /** The provider throttled the call (429, 529): nothing was used. */
  void throttled() {
    settle(Usage.NONE, null, false);
  }

  /**
   * Charges {@code usage}, once; {@code estimated} says why it is the sidecar's estimate rather than
   * the provider's figure (null: the provider's). {@code produced}: the answer ended normally with
   * the provider's usage, so its output is what the model produces on its own when under the cap.
   * A call with tokens but no price is counted too: its spend is unknown.
   */
  private void settle(Usage usage, EstimateReason estimated, boolean produced) {
    if (!settled.compareAndSet(false, true)) {
      return;
    }
    AdmissionPlan.Planned planned = plan.planned();
    metrics.inflight().decrementAndGet();
    metrics.upstreamTime(clock.nanos() - startedNanos);
    String model = plan.modelLabel();
    String tier = plan.caller().tier();
    boolean priced = planned.model() != null && planned.model().pricing() != null;
    long cost = priced ? usage.costMicros(planned.model().pricing()) : 0;
    EstimateReason reason = estimated != null ? estimated
        : !priced && usage.totalTokens() > 0 ? EstimateReason.UNPRICED : null;
    if (planned.settleAtReservation()) {
      // a batch: its usage comes later, in its results; it is charged what was reserved, at the batch price
      cost = usage.totalTokens() == 0 ? 0 : planned.costMicros();
      reason = usage.totalTokens() == 0 ? reason : EstimateReason.BATCH;
    }
    if (reason != null) {
      metrics.estimatedCharge(reason.label());
    }
    metrics.tokens(model, tier, "input", usage.input());
    metrics.tokens(model, tier, "output", usage.output());
    metrics.tokens(model, tier, "cache_read", usage.cacheRead());
    metrics.tokens(model, tier, "cache_write", usage.cacheWrite());
    metrics.spend(model, tier, cost);
    limiter.reconcile(new ReconcileRequest(admitted, usage.totalTokens(), cost, reason != null))
        .onFailure(err -> LOG.log(System.Logger.Level.WARNING, "reconcile of " + admitted.requestId() + " failed: " + err));
    if (produced && !planned.settleAtReservation() && usage.output() < planned.outputCap()) {
      // what the model produced on its own: not cut short, not stopped by the caller's own cap
      outputs.record(planned.model(), tier, usage.output());
    }
  }

  /** Why a call is charged on the sidecar's estimate instead of the provider's usage figures. */
  enum EstimateReason {
    /** The answer ended without usage (a stream or JSON answer that carried none). */
    NO_USAGE("no_usage"),
    /** The client or the provider hung up before the usage came. */
    CUT_SHORT("cut_short"),
    /** Tokens were used on a model without pricing: the spend is unknown (charged as 0). */
    UNPRICED("unpriced"),
    /** The provider failed or timed out: charged nothing, though a call sent may still be billed. */
    UPSTREAM_FAILED("upstream_failed"),
    /** A message batch: charged its reservation at the batch price; its usage comes later, in its results. */
    BATCH("batch");

    private final String label;

    EstimateReason(String label) {
      this.label = label;
    }

    String label() {
      return label;
    }
  }
}
