package dev.ratekeeper.sidecar.limiter;

/**
 * What one check concluded before the all-or-nothing commit: whether it passes, how long until it
 * could, and what its counter shows either way.
 *
 * @param passed the request fits
 * @param waitMs when it does not: the least time until it could (0 when it passes; -1 when never, see {@code neverPassable})
 * @param neverPassable the request exceeds the limit even from empty (bucket size, whole quota or budget)
 * @param used for quotas and budgets: the period's count including this request
 * @param remainingIfCommitted units left after this request is charged
 * @param resetIfCommittedMs ms until the counter is back to full after this request is charged
 * @param remainingNow units left without this request
 * @param resetNowMs ms until the counter is back to full without this request
 */
public record Evaluation(boolean passed, long waitMs, boolean neverPassable, long used, long remainingIfCommitted,
    long resetIfCommittedMs, long remainingNow, long resetNowMs) {

  /** The outcome reported once the request was charged ({@code committed}) or not. */
  public CheckOutcome outcome(boolean committed) {
    return new CheckOutcome(passed, waitMs, committed ? remainingIfCommitted : remainingNow,
        committed ? resetIfCommittedMs : resetNowMs, used, neverPassable);
  }
}
