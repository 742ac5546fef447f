package dev.ratekeeper.operator.status;

import dev.ratekeeper.policy.api.BudgetPeriod;
import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.temporal.IsoFields;

/**
 * The period {@code status.usage} reports: the global budget's period when the policy has one,
 * else the calendar month, always in UTC. Ids match the ones the sidecars' scripts key their
 * statistics by: {@code 2026-11} (month), {@code 2026-W47} (ISO week, week-based year),
 * {@code 2026-11-23} (day).
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
    LocalDate day = LocalDate.ofInstant(now, ZoneOffset.UTC);
    return switch (period) {
      case Daily -> String.format("%04d-%02d-%02d", day.getYear(), day.getMonthValue(), day.getDayOfMonth());
      case Weekly -> String.format("%04d-W%02d", day.get(IsoFields.WEEK_BASED_YEAR),
          day.get(IsoFields.WEEK_OF_WEEK_BASED_YEAR));
      case Monthly -> String.format("%04d-%02d", day.getYear(), day.getMonthValue());
    };
  }
}
