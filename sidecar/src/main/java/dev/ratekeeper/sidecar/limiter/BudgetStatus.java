package dev.ratekeeper.sidecar.limiter;

/**
 * A budget's figures for the warning header and {@code x-ratekeeper-budget-remaining-usd}.
 *
 * @param usedMicros committed spend plus in-flight reservations of the period, this request's included
 * @param limitMicros the budget
 * @param resetMs ms until the period ends and the budget starts again
 */
public record BudgetStatus(long usedMicros, long limitMicros, long resetMs) {
  public long remainingMicros() {
    return Math.max(0, limitMicros - usedMicros);
  }

  /**
   * Whether {@code usedMicros} reaches {@code percent} % of the budget ({@code warnAtPercent}).
   * Exact: counts stay below 2^53 ({@link Check#MAX_EXACT}), so × 100 fits a long.
   */
  public boolean reaches(int percent) {
    return usedMicros * 100 >= limitMicros * percent;
  }
}
