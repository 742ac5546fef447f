package dev.ratekeeper.sidecar.limiter;

/**
 * A count per fixed UTC calendar period (token quotas per hour/day, budgets per day/week/month);
 * {@code lua/common.lua} mirrors it. State is the period id and the count in it; a counter whose
 * period id is not the current one counts zero. A budget's count is committed spend plus in-flight
 * reservations.
 */
public final class CalendarQuota {
  private CalendarQuota() {}

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
   * The count after reconcile: the reservation is replaced by the actual figure when it is still in
   * the counter ({@link Check#quotaStillCounts}); otherwise the period rolled over or the run ended (the
   * reservation went with it) and the actual figure is charged to the new one. Never below zero.
   */
  public static long recharged(long count, long reserved, long actual, boolean reservationStillCounts) {
    long next = reservationStillCounts ? count + actual - reserved : count + actual;
    return Math.max(0, next);
  }

  /** How long a counter must live: to the end of its period, plus a second. */
  public static long ttlMs(long nowMs, long periodEndMs) {
    return periodEndMs - nowMs + 1000;
  }
}
