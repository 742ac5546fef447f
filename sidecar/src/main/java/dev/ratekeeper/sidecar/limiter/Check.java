package dev.ratekeeper.sidecar.limiter;

import dev.ratekeeper.policy.compile.Rate;
import dev.ratekeeper.policy.periods.CalendarPeriod;
import java.util.Objects;

/**
 * One limit a request is decided against: which dimension, which counter key, what kind of counter,
 * and how many units this request takes from it. Both stores execute the same list of checks
 * ({@link LimitPlan}); the Redis store hands it to {@code admit.lua} as KEYS and ARGV.
 *
 * @param dimension the limit's user-facing name
 * @param tierShare true for a tier's {@code globalShare} of a global rate (reported under the global name)
 * @param kind token bucket, calendar quota or lease set
 * @param key the counter's Redis key (the in-memory store uses the same names)
 * @param cost units this request takes: 1 request, the token reservation, the cost in micro-dollars, 1 lease
 * @param limit bucket: refill per {@code periodMs}; quota: units per calendar period; lease: most leases at once
 * @param periodMs bucket: refill period (60 000 for every rate the compiler makes); run count: its idle timeout;
 *     otherwise 0
 * @param burst bucket: its size; otherwise 0
 * @param period quota: the calendar period; null for a run's count and other kinds
 */
public record Check(Dimension dimension, boolean tierShare, Kind kind, String key, long cost, long limit,
    long periodMs, long burst, CalendarPeriod period) {

  /** The kinds of counter, with the one-letter codes the Lua scripts use. */
  public enum Kind {
    /** A token bucket (GCRA), O(1) state. */
    BUCKET('B'),
    /** A count per fixed UTC calendar period. */
    QUOTA('Q'),
    /** A set of in-flight leases, each expiring on its own. */
    LEASE('L');

    private final char code;

    Kind(char code) {
      this.code = code;
    }

    public char code() {
      return code;
    }
  }

  /**
   * Largest bucket size × period, and largest count, the stores keep exact: Redis Lua numbers are
   * doubles, exact up to 2^53. Buckets larger than this are clamped to it (about 1.5 × 10^11 tokens
   * per minute: unlimited in practice).
   */
  public static final long MAX_EXACT = (1L << 53) - 1;

  public Check {
    Objects.requireNonNull(dimension, "dimension");
    Objects.requireNonNull(kind, "kind");
    Objects.requireNonNull(key, "key");
    if (cost < 0) {
      throw new IllegalArgumentException(dimension + ": negative cost " + cost);
    }
  }

  public static Check bucket(Dimension dimension, boolean tierShare, String key, Rate rate, long cost) {
    long periodMs = rate.periodMs();
    if (rate.limit() < 1 || rate.burst() < 1 || periodMs < 1) {
      throw new IllegalArgumentException(dimension + ": a rate needs limit, burst and period of at least 1, got " + rate);
    }
    long maxBurst = MAX_EXACT / 2 / periodMs;
    return new Check(dimension, tierShare, Kind.BUCKET, key, cost, Math.min(rate.limit(), maxBurst), periodMs,
        Math.min(rate.burst(), maxBurst), null);
  }

  public static Check quota(Dimension dimension, String key, long limit, CalendarPeriod period, long cost) {
    return new Check(dimension, false, Kind.QUOTA, key, cost, limit, 0, 0, period);
  }

  /**
   * A count per run: like a calendar quota, but its period is the run's life, which ends
   * {@code idleMs} after its last call (the counter expires then). Lua period code {@code I}.
   */
  public static Check runQuota(Dimension dimension, String key, long limit, long idleMs, long cost) {
    return new Check(dimension, false, Kind.QUOTA, key, cost, limit, idleMs, 0, null);
  }

  /**
   * The period id a quota counter written at {@code nowMs} carries, given what is stored (null: no
   * counter): the calendar period's id; for a run's count {@code <startMs>~<deadlineMs>}, the start of
   * the run's current life (now, when the stored one has ended) and the deadline this call sets.
   */
  public String quotaPeriodId(String storedPeriodId, long nowMs) {
    if (period != null) {
      return period.id(nowMs);
    }
    long start = storedPeriodId != null && quotaLive(storedPeriodId, nowMs) ? runStart(storedPeriodId) : nowMs;
    return start + "~" + (nowMs + periodMs);
  }

  /** When a quota's period ends: the calendar period's end, or {@code idle} ms from now for a run's count. */
  public long quotaEndMs(long nowMs) {
    return period == null ? nowMs + periodMs : period.endMs(nowMs);
  }

  /** The count a quota counter holds at {@code nowMs}, given what is stored (null id: no counter). */
  public long quotaCount(String storedPeriodId, long storedCount, long nowMs) {
    return storedPeriodId != null && quotaLive(storedPeriodId, nowMs) ? storedCount : 0;
  }

  /**
   * Whether a reservation charged at {@code admittedAtMs} is still in the counter at {@code nowMs} (the
   * stored period id: null for no counter): the calendar period it was charged in is still the current
   * one, or (a run's count) the run's life it was charged in is still live. A run's new life begins only
   * once the one before has ended, after every call made in it, so the live life holds the reservation
   * exactly when it began at or before the admission.
   */
  public boolean quotaStillCounts(long admittedAtMs, String storedPeriodId, long nowMs) {
    if (period == null) {
      return storedPeriodId != null && quotaLive(storedPeriodId, nowMs) && runStart(storedPeriodId) <= admittedAtMs;
    }
    return period.id(admittedAtMs).equals(period.id(nowMs));
  }

  private boolean quotaLive(String storedPeriodId, long nowMs) {
    if (period != null) {
      return storedPeriodId.equals(period.id(nowMs));
    }
    return Long.parseLong(storedPeriodId.substring(storedPeriodId.indexOf('~') + 1)) > nowMs;
  }

  private static long runStart(String runPeriodId) {
    return Long.parseLong(runPeriodId.substring(0, runPeriodId.indexOf('~')));
  }

  public static Check lease(Dimension dimension, String key, long limit) {
    return new Check(dimension, false, Kind.LEASE, key, 1, limit, 0, 0, null);
  }

  public Dimension.Unit unit() {
    return dimension.unit();
  }

  /** Whether reconcile touches this counter: token and money counters are re-charged, leases released. */
  public boolean reconciled() {
    return unit() != Dimension.Unit.REQUESTS;
  }
}
