package dev.ratekeeper.sidecar.limiter;

/**
 * Concurrency: the in-flight requests of a user, each a lease that expires on its own after the
 * lease TTL unless reconcile releases it first (a sidecar that dies cannot leak slots for longer
 * than that). {@code admit.lua} mirrors it with a sorted set of request id → expiry.
 */
public final class LeaseSet {
  private LeaseSet() {}

  /**
   * Decides one more lease against {@code live} unexpired leases, the earliest of which expires at
   * {@code earliestExpiryMs} (ignored when {@code live} is 0).
   *
   * <p>A full set could free up any moment (reconcile releases leases), so the wait reported is
   * {@code retryHintMs}, or less when the earliest lease expires sooner: a hint, not a bound.
   */
  public static Evaluation evaluate(Check check, long live, long earliestExpiryMs, long nowMs, long leaseTtlMs,
      long retryHintMs) {
    boolean never = check.limit() < 1;
    boolean passed = live + 1 <= check.limit();
    long untilEarliest = live > 0 ? earliestExpiryMs - nowMs : 0;
    long wait = passed ? 0 : never ? -1 : Math.min(retryHintMs, untilEarliest);
    long resetIfCommitted = live > 0 ? Math.min(untilEarliest, leaseTtlMs) : leaseTtlMs;
    return new Evaluation(passed, wait, never, live + 1, Math.max(0, check.limit() - live - 1), resetIfCommitted,
        Math.max(0, check.limit() - live), untilEarliest);
  }
}
