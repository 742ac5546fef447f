package dev.ratekeeper.sidecar.limiter;

import java.util.List;
import java.util.stream.Collectors;

/**
 * The verdict on one request, from either store.
 *
 * @param allowed forward the request: every dimension fitted, or the decision was in shadow mode
 * @param shadow decided in shadow mode: counted as allowed, {@code limitedBy} says what would have blocked
 * @param limitedBy blocking dimensions, longest wait first (never-passable ones first of all); the
 *     tier's share of a global rate reports the global name; empty when everything fitted
 * @param retryAfterMs when blocked: the earliest moment, from now, at which every blocking dimension
 *     could fit (for concurrency a hint, see {@link LeaseSet}); never-passable dimensions are left
 *     out (no wait helps them); 0 when nothing blocks
 * @param retryHelpsSoon false when a calendar quota or budget blocks (the reservation no longer fits
 *     this period), when waiting would take over {@link #SOON_MS}, or when never passable
 *     ({@code x-should-retry: false}); true when nothing blocks
 * @param neverPassable the reservation exceeds a bucket size, a whole quota or budget, or concurrency
 *     is 0: no wait helps (the proxy answers 400)
 * @param dimensions every checked dimension, in check order
 * @param userBudget the user's tier budget, or null when the tier has none (or requests-only)
 * @param globalBudget the global budget, or null when there is none (or requests-only)
 * @param remainingRequests smallest remaining across request dimensions, null when none applies
 *     ({@code x-ratekeeper-remaining-requests})
 * @param remainingTokens smallest remaining across token dimensions, null when none applies
 * @param remainingBudgetMicros smallest remaining across budgets, null when none applies
 * @param nowMs the store's clock (Redis {@code TIME}) at the decision
 */
public record Decision(
    boolean allowed,
    boolean shadow,
    List<Dimension> limitedBy,
    long retryAfterMs,
    boolean retryHelpsSoon,
    boolean neverPassable,
    List<DimensionStatus> dimensions,
    BudgetStatus userBudget,
    BudgetStatus globalBudget,
    Long remainingRequests,
    Long remainingTokens,
    Long remainingBudgetMicros,
    long nowMs) {

  /** Waits longer than this make {@code retryHelpsSoon} false. */
  public static final long SOON_MS = 60_000;

  public Decision {
    limitedBy = List.copyOf(limitedBy);
    dimensions = List.copyOf(dimensions);
  }

  /** Blocked: the proxy answers 429 (or 400 when {@link #neverPassable()}). */
  public boolean denied() {
    return !allowed;
  }

  /** {@code x-ratekeeper-limited-by} (or {@code x-ratekeeper-shadow-limited-by}): names, comma-separated. */
  public String limitedByHeader() {
    return limitedBy.stream().map(Dimension::wireName).collect(Collectors.joining(","));
  }

  /** {@code retry-after}: whole seconds, rounded up. */
  public long retryAfterSeconds() {
    return (retryAfterMs + 999) / 1000;
  }

  /** Whether a budget (the user's or the global one) reaches {@code warnAtPercent} with this request. */
  public boolean budgetWarning(int warnAtPercent) {
    BudgetStatus run = runBudget();
    return (userBudget != null && userBudget.reaches(warnAtPercent))
        || (globalBudget != null && globalBudget.reaches(warnAtPercent))
        || (run != null && run.reaches(warnAtPercent));
  }

  /** The caller's run budget (committed spend and reservations of the run, this request's included), or null. */
  public BudgetStatus runBudget() {
    for (DimensionStatus status : dimensions) {
      if (status.dimension() == Dimension.RUN_BUDGET) {
        return new BudgetStatus(status.limit() - status.remaining(), status.limit(), status.resetMs());
      }
    }
    return null;
  }
}
