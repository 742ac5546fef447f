package dev.ratekeeper.sidecar.limiter;

/**
 * One checked dimension as the decision left it.
 *
 * @param dimension the user-facing name
 * @param tierShare true for the tier's {@code globalShare} of a global rate (same name as the global rate)
 * @param limit requests or tokens per minute (buckets), units per period (quotas), micro-dollars
 *     (budgets), leases (concurrency)
 * @param remaining units left (after this request when it was charged)
 * @param resetMs ms until the counter is full again (buckets), the period ends (quotas, budgets) or
 *     the earliest lease expires (concurrency)
 * @param blocking this dimension did not fit (or, in shadow mode, would not have)
 * @param waitMs when blocking: least ms until it could fit; -1 when never
 */
public record DimensionStatus(Dimension dimension, boolean tierShare, long limit, long remaining, long resetMs,
    boolean blocking, long waitMs) {}
