package dev.ratekeeper.operator.status;

import dev.ratekeeper.policy.api.BudgetPeriod;
import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import dev.ratekeeper.policy.periods.CalendarPeriod;
import java.time.Instant;

/**
 * The period {@code status.usage} reports: the global budget's period when the policy has one,
 * else the calendar month, always in UTC. Its ids are the ones the sidecars' scripts key their
 * statistics by ({@code 2026-11}, {@code 2026-W47}, {@code 2026-11-23}), from the one
 * {@link CalendarPeriod} both use.
 */
public final class UsagePeriod {
  private UsagePeriod() {}

  /** The period usage is reported for under {@code spec}. */
  public static BudgetPeriod of(RateLimitPolicySpec spec) {
    if (spec != null && spec.global != null && spec.global.budget != null && spec.global.budget.period != null) {
      return spec.global.budget.period;
    }
    return BudgetPeriod.Monthly;
  }

  /** The id of the {@code period} that contains {@code now}. */
  public static String id(BudgetPeriod period, Instant now) {
    return CalendarPeriod.of(period).id(now.toEpochMilli());
  }
}
