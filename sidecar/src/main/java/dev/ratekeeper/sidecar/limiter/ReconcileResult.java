package dev.ratekeeper.sidecar.limiter;

/**
 * What reconcile did.
 *
 * @param outcome see {@link Outcome}
 * @param tokenDelta actual − reserved tokens charged on every token counter (negative: a refund); 0 unless RECONCILED
 * @param costDeltaMicros actual − reserved micro-dollars charged on every budget; 0 unless RECONCILED
 * @param nowMs the store's clock
 */
public record ReconcileResult(Outcome outcome, long tokenDelta, long costDeltaMicros, long nowMs) {
  public enum Outcome {
    /** The reservation was replaced by the actual usage and the lease released. */
    RECONCILED,
    /** This request id was reconciled before; nothing changed. */
    ALREADY_RECONCILED,
    /**
     * No reservation under this id: never admitted, requests-only, or its record expired (after
     * {@link LimiterOptions#reservationTtlMs()}: the reservation then stays charged). Nothing changed.
     */
    UNKNOWN
  }
}
