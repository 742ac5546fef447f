package dev.ratekeeper.policy.periods;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.BudgetPeriod;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CalendarPeriodTest {

  @ParameterizedTest
  @CsvSource({
      "2026-11-23T10:15:00Z, HOUR,  2026-11-23T10, 2026-11-23T11:00:00Z",
      "2026-11-23T23:59:59.999Z, DAY, 2026-11-23, 2026-11-24T00:00:00Z",
      "2026-11-23T00:00:00Z, WEEK,  2026-W48,      2026-11-30T00:00:00Z",
      "2026-11-29T23:59:59.999Z, WEEK, 2026-W48,   2026-11-30T00:00:00Z",
      "2027-01-01T12:00:00Z, WEEK,  2026-W53,      2027-01-04T00:00:00Z",
      "2024-12-30T00:00:00Z, WEEK,  2025-W01,      2025-01-06T00:00:00Z",
      "2026-12-31T23:59:59.999Z, MONTH, 2026-12,   2027-01-01T00:00:00Z",
      "2028-02-29T12:00:00Z, MONTH, 2028-02,       2028-03-01T00:00:00Z",
      "1970-01-01T00:00:00Z, WEEK,  1970-W01,      1970-01-05T00:00:00Z",
  })
  void idsAndEnds(String at, CalendarPeriod period, String id, String end) {
    long ms = Instant.parse(at).toEpochMilli();
    assertThat(period.id(ms)).isEqualTo(id);
    assertThat(period.endMs(ms)).isEqualTo(Instant.parse(end).toEpochMilli());
  }

  @Test
  void askingAboutAnotherPeriodAndBackGivesEachItsOwnIdAndEnd() {
    // ids are remembered per period: a call for another period (a test's clock, a period that ended)
    // must not be answered from the one before
    long a = Instant.parse("2026-11-23T10:59:59.999Z").toEpochMilli();
    long b = a + 1;
    for (int i = 0; i < 3; i++) {
      assertThat(CalendarPeriod.HOUR.id(a)).isEqualTo("2026-11-23T10");
      assertThat(CalendarPeriod.HOUR.endMs(a)).isEqualTo(b);
      assertThat(CalendarPeriod.HOUR.id(b)).isEqualTo("2026-11-23T11");
      assertThat(CalendarPeriod.HOUR.endMs(b)).isEqualTo(Instant.parse("2026-11-23T12:00:00Z").toEpochMilli());
    }
  }

  @Test
  void budgetPeriodsMapToCalendarPeriods() {
    assertThat(CalendarPeriod.of(BudgetPeriod.Daily)).isEqualTo(CalendarPeriod.DAY);
    assertThat(CalendarPeriod.of(BudgetPeriod.Weekly)).isEqualTo(CalendarPeriod.WEEK);
    assertThat(CalendarPeriod.of(BudgetPeriod.Monthly)).isEqualTo(CalendarPeriod.MONTH);
  }
}
