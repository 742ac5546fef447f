package dev.ratekeeper.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.Budget;
import dev.ratekeeper.policy.api.BudgetPeriod;
import dev.ratekeeper.policy.api.GlobalLimits;
import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class UsagePeriodTest {
  @ParameterizedTest
  @CsvSource({
      "Monthly, 2026-11-23T10:15:00Z, 2026-11",
      "Monthly, 2026-12-31T23:59:59.999Z, 2026-12",
      "Weekly,  2026-11-23T00:00:00Z, 2026-W48",
      "Weekly,  2026-11-22T23:59:59Z, 2026-W47",
      "Weekly,  2027-01-01T12:00:00Z, 2026-W53",
      "Weekly,  2025-12-29T00:00:00Z, 2026-W01",
      "Daily,   2026-11-23T23:59:59Z, 2026-11-23",
      "Daily,   2026-11-24T00:00:00Z, 2026-11-24"})
  void periodIdsAreUtcCalendarPeriods(BudgetPeriod period, String now, String id) {
    assertThat(UsagePeriod.id(period, Instant.parse(now))).isEqualTo(id);
  }

  @Test
  void theGlobalBudgetsPeriodElseMonthly() {
    RateLimitPolicySpec spec = new RateLimitPolicySpec();
    assertThat(UsagePeriod.of(spec)).isEqualTo(BudgetPeriod.Monthly);
    assertThat(UsagePeriod.of(null)).isEqualTo(BudgetPeriod.Monthly);

    spec.global = new GlobalLimits();
    assertThat(UsagePeriod.of(spec)).isEqualTo(BudgetPeriod.Monthly);

    spec.global.budget = new Budget("100.00", BudgetPeriod.Weekly);
    assertThat(UsagePeriod.of(spec)).isEqualTo(BudgetPeriod.Weekly);
  }
}
