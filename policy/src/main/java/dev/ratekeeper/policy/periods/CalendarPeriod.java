package dev.ratekeeper.policy.periods;

import dev.ratekeeper.policy.api.BudgetPeriod;
import java.time.DayOfWeek;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.temporal.IsoFields;
import java.time.temporal.TemporalAdjusters;

/**
 * A fixed UTC calendar period of a quota, a budget or the usage statistics. Ids name the period,
 * e.g. {@code 2026-11-23T14} (hour), {@code 2026-11-23} (day), {@code 2026-W47} (ISO week, from
 * Monday 00:00 UTC, numbered in its week-based year), {@code 2026-11} (month). The one implementation
 * for the sidecar (counter periods, statistics keys) and the operator ({@code status.usage}); the
 * sidecar's Lua scripts compute the same ids and ends from Redis time ({@code lua/common.lua}), and
 * its behaviour suite checks that both agree.
 */
public enum CalendarPeriod {
  HOUR('H'),
  DAY('D'),
  WEEK('W'),
  MONTH('M');

  private final char code;
  /**
   * The period last asked about: every admission names the current period of several counters, so
   * its id and end are worked out once per period, not per call. Immutable, published by a volatile
   * write: a reader sees a whole span or the previous one.
   */
  private volatile Span last;

  /** One period: {@code [startMs, endMs)} and its id. */
  private record Span(long startMs, long endMs, String id) {
    boolean contains(long epochMs) {
      return epochMs >= startMs && epochMs < endMs;
    }
  }

  CalendarPeriod(char code) {
    this.code = code;
  }

  public static CalendarPeriod of(BudgetPeriod period) {
    return switch (period) {
      case Daily -> DAY;
      case Weekly -> WEEK;
      case Monthly -> MONTH;
    };
  }

  /** The one-letter code the Lua scripts use. */
  public char code() {
    return code;
  }

  /** The id of the period containing {@code epochMs}. */
  public String id(long epochMs) {
    return span(epochMs).id();
  }

  /** The first millisecond after the period containing {@code epochMs}: when its counters start again from zero. */
  public long endMs(long epochMs) {
    return span(epochMs).endMs();
  }

  private Span span(long epochMs) {
    Span span = last;
    if (span == null || !span.contains(epochMs)) {
      span = compute(epochMs);
      last = span;
    }
    return span;
  }

  private Span compute(long epochMs) {
    LocalDateTime t = LocalDateTime.ofInstant(Instant.ofEpochMilli(epochMs), ZoneOffset.UTC);
    LocalDate d = t.toLocalDate();
    LocalDateTime start = switch (this) {
      case HOUR -> t.withMinute(0).withSecond(0).withNano(0);
      case DAY -> d.atStartOfDay();
      case WEEK -> d.with(TemporalAdjusters.previousOrSame(DayOfWeek.MONDAY)).atStartOfDay();
      case MONTH -> d.withDayOfMonth(1).atStartOfDay();
    };
    LocalDateTime end = switch (this) {
      case HOUR -> start.plusHours(1);
      case DAY -> start.plusDays(1);
      case WEEK -> start.plusWeeks(1);
      case MONTH -> start.plusMonths(1);
    };
    String id = switch (this) {
      case HOUR -> String.format("%04d-%02d-%02dT%02d", d.getYear(), d.getMonthValue(), d.getDayOfMonth(), t.getHour());
      case DAY -> String.format("%04d-%02d-%02d", d.getYear(), d.getMonthValue(), d.getDayOfMonth());
      case WEEK -> String.format("%04d-W%02d", d.get(IsoFields.WEEK_BASED_YEAR), d.get(IsoFields.WEEK_OF_WEEK_BASED_YEAR));
      case MONTH -> String.format("%04d-%02d", d.getYear(), d.getMonthValue());
    };
    return new Span(start.toInstant(ZoneOffset.UTC).toEpochMilli(), end.toInstant(ZoneOffset.UTC).toEpochMilli(), id);
  }
}
