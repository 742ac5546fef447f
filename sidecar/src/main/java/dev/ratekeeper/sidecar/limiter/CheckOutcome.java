package dev.ratekeeper.sidecar.limiter;

/**
 * The final word on one check, as both stores report it (the Redis store reads these six numbers
 * from {@code admit.lua}'s reply).
 *
 * @param passed the request fitted this limit
 * @param waitMs least ms until it could (0 when it passed; -1 when never)
 * @param remaining units left (after this request when it was charged)
 * @param resetMs ms until the counter is full / zero again
 * @param used quotas and budgets: the period's count including this request; 0 otherwise
 * @param neverPassable the request exceeds this limit even from empty
 */
public record CheckOutcome(boolean passed, long waitMs, long remaining, long resetMs, long used,
    boolean neverPassable) {}
