package dev.ratekeeper.sidecar.limiter;

/**
 * A count per fixed UTC calendar period (token quotas per hour/day, budgets per day/week/month);
 * {@code lua/common.lua} mirrors it. State is the period id and the count in it; a counter whose
 * period id is not the current one counts zero. A budget's count is committed spend plus in-flight
 * reservations.
 */
public final class CalendarQuota {
  private CalendarQuota() {}

  /** The count of period {@code currentPeriodId}, given the stored period id and count (null: no counter). */
  public static long current(String storedPeriodId, long storedCount, String currentPeriodId) {
    return currentPeriodId.equals(storedPeriodId) ? storedCount : 0;
  }

  /** Decides {@code check.cost()} units against a period that has counted {@code count} and ends at {@code periodEndMs}. */
  public static Evaluation evaluate(Check check, long count, long nowMs, long periodEndMs) {
    long need = count + check.cost();
    boolean never = check.cost() > check.limit();
    boolean passed = need <= check.limit();
    long untilEnd = periodEndMs - nowMs;
    return new Evaluation(passed, passed ? 0 : never ? -1 : untilEnd, never, need,
        Math.max(0, check.limit() - need), untilEnd, Math.max(0, check.limit() - count), untilEnd);
  }

  /**
   * The count after reconcile: the reservation made in period {@code reservedPeriodId} is replaced by
   * the actual figure when that period is still current; otherwise the period rolled over (the
   * reservation went with it) and the actual figure is charged to the new period. Never below zero.
   */
  public static long recharged(long count, long reserved, long actual, String reservedPeriodId,
      String currentPeriodId) {
    long next = currentPeriodId.equals(reservedPeriodId) ? count + actual - reserved : count + actual;
    return Math.max(0, next);
  }

  /** How long a counter must live: to the end of its period, plus a second. */
  public static long ttlMs(long nowMs, long periodEndMs) {
    return periodEndMs - nowMs + 1000;
  }
}
