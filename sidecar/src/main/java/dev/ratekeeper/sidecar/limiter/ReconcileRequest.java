package dev.ratekeeper.sidecar.limiter;

import java.util.List;
import java.util.Objects;

/**
 * Replace a request's reservation by what it really used, once the provider answered (or the
 * client went away), and release its concurrency lease. Idempotent per request id.
 *
 * @param admitted the admission being reconciled (it names every counter that was charged)
 * @param actualTokens tokens really used (input, cached input, output)
 * @param actualCostMicros their cost in micro-dollars
 * @param estimated true when these are the sidecar's estimate, not the provider's figures (no usage
 *     in the answer, a call cut short, an unpriced model): counted in the statistics ({@code estimated})
 */
public record ReconcileRequest(AdmitRequest admitted, long actualTokens, long actualCostMicros, boolean estimated) {

  /** The provider's own usage figures. */
  public ReconcileRequest(AdmitRequest admitted, long actualTokens, long actualCostMicros) {
    this(admitted, actualTokens, actualCostMicros, false);
  }

  public ReconcileRequest {
    Objects.requireNonNull(admitted, "admitted");
    if (actualTokens < 0 || actualCostMicros < 0) {
      throw new IllegalArgumentException("negative usage");
    }
  }

  /**
   * Whether reconciling this request changes nothing but its record (which becomes {@code done}), given
   * its admission's {@code checks} ({@link LimitPlan#checks}): a metered admission (a requests-only one
   * keeps its {@code counted} record for a refund, which the script leaves as it is) that reserved no
   * tokens and no money, and its answer used none and is no estimate (nothing for the statistics); among the counters
   * reconcile touches there is no lease (to release), no calendar quota (reconcile may write one whose
   * period rolled over) and no run count (each reconcile moves the run's idle deadline), only token and
   * money buckets, which a change of 0 leaves unwritten. Both stores then only mark the record reconciled.
   */
  public boolean changesOnlyRecord(List<Check> checks) {
    if (!admitted.metered() || estimated || actualTokens != 0 || actualCostMicros != 0 || admitted.reservedTokens() != 0
        || admitted.reservedCostMicros() != 0) {
      return false;
    }
    for (Check check : checks) {
      if (check.reconciled() && check.kind() != Check.Kind.BUCKET) {
        return false;
      }
    }
    return true;
  }

  /**
   * For a request that failed before the upstream answered (connection refused, timeout before
   * headers, client gone before forwarding): refunds the whole reservation and releases the lease.
   */
  public static ReconcileRequest release(AdmitRequest admitted) {
    return new ReconcileRequest(admitted, 0, 0);
  }
}
