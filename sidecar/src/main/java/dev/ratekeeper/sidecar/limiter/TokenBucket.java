package dev.ratekeeper.sidecar.limiter;

/**
 * GCRA token bucket in exact integer arithmetic; {@code lua/common.lua} mirrors it line by line.
 *
 * <p>State is the time of the last update ({@code lastMs}) and the bucket's <em>occupancy</em> at that
 * moment, in units × periodMs. A rate of {@code limit} units per {@code periodMs} drains occupancy
 * by exactly {@code limit} per millisecond, and a request of {@code n} units adds
 * {@code n × periodMs}; the bucket holds at most {@code burst × periodMs}. Scaling by periodMs keeps
 * every step an integer for any limit (no drift when 60 000 / perMinute is not whole), and
 * occupancy is independent of the limit, so a policy edit keeps what was consumed. (In GCRA terms
 * occupancy is TAT − now, with time measured in 1/limit ms.)
 */
public final class TokenBucket {
  private TokenBucket() {}

  /**
   * Occupancy at {@code nowMs} of a bucket that had {@code occupancy} at {@code lastMs}; a clock that
   * went backwards drains nothing. No product can overflow: {@code elapsed × limit < occupancy + limit}.
   */
  public static long drained(long lastMs, long occupancy, long nowMs, long limit) {
    if (nowMs <= lastMs || occupancy <= 0) {
      return Math.max(0, occupancy);
    }
    long elapsed = nowMs - lastMs;
    if (elapsed >= ceilDiv(occupancy, limit)) {
      return 0;
    }
    return occupancy - elapsed * limit;
  }

  /** Decides {@code check.cost()} units against a bucket holding {@code occupancy} now. */
  public static Evaluation evaluate(Check check, long occupancy) {
    long periodMs = check.periodMs();
    long capacity = check.burst() * periodMs;
    long need = occupancy + check.cost() * periodMs;
    boolean never = check.cost() > check.burst();
    boolean passed = need <= capacity;
    long wait = passed ? 0 : never ? -1 : ceilDiv(need - capacity, check.limit());
    return new Evaluation(passed, wait, never, 0,
        remaining(capacity, need, periodMs), fullInMs(need, check.limit()),
        remaining(capacity, occupancy, periodMs), fullInMs(occupancy, check.limit()));
  }

  /** Occupancy after {@code check.cost()} units are charged on top of {@code occupancy}. */
  public static long charged(Check check, long occupancy) {
    return occupancy + check.cost() * check.periodMs();
  }

  /**
   * Occupancy after reconcile replaced {@code reserved} units by {@code actual}: a refund or an extra
   * charge, never below empty (an extra charge may overfill the bucket; it then drains as debt).
   */
  public static long recharged(long occupancy, long reserved, long actual, long periodMs) {
    return Math.max(0, occupancy + (actual - reserved) * periodMs);
  }

  /** How long a key must live: until the bucket is full again, plus a second. */
  public static long ttlMs(long occupancy, long limit) {
    return fullInMs(occupancy, limit) + 1000;
  }

  private static long remaining(long capacity, long occupancy, long periodMs) {
    return Math.max(0, Math.floorDiv(capacity - occupancy, periodMs));
  }

  private static long fullInMs(long occupancy, long limit) {
    return ceilDiv(occupancy, limit);
  }

  static long ceilDiv(long a, long b) {
    return -Math.floorDiv(-a, b);
  }
}
