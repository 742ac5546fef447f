package dev.ratekeeper.sidecar.store;

import java.util.function.LongSupplier;

/**
 * Which clock the Lua scripts decide by (limits, and the upstream cooldowns of {@code cooldown.lua}).
 * Production reads Redis {@code TIME} inside the script, so every sidecar shares one clock and pod
 * clocks never matter. Tests shift that clock by an offset (to reach the next day or month without
 * waiting) or pin it (to assert exact waits, or to move it with the sidecar's clock).
 */
public final class RedisTime {
  private final String mode;
  private final LongSupplier valueMs;
  /** The last value and its text: the production clock's offset is always 0, written once, not per call. */
  private volatile Value last = new Value(0, "0");

  private record Value(long ms, String text) {}

  private RedisTime(String mode, LongSupplier valueMs) {
    this.mode = mode;
    this.valueMs = valueMs;
  }

  /** Redis {@code TIME}: the production clock. */
  public static RedisTime server() {
    return new RedisTime("o", () -> 0);
  }

  /** Redis {@code TIME} plus {@code offsetMs} read at every call (tests). */
  public static RedisTime serverPlus(LongSupplier offsetMs) {
    return new RedisTime("o", offsetMs);
  }

  /** A clock the caller sets, ms since the epoch; Redis {@code TIME} is not read (tests that assert exact waits). */
  public static RedisTime pinned(LongSupplier nowMs) {
    return new RedisTime("p", nowMs);
  }

  /** ARGV[1] of the scripts: {@code o} (TIME + offset) or {@code p} (pinned). */
  public String mode() {
    return mode;
  }

  /** ARGV[2] of the scripts: the offset or the pinned time. */
  public String value() {
    long ms = valueMs.getAsLong();
    Value found = last;
    if (found.ms == ms) {
      return found.text;
    }
    Value made = new Value(ms, Long.toString(ms));
    last = made;
    return made.text;
  }

  /**
   * This clock as the sidecar estimates it, for an answer that involved no script (a reconcile that
   * was only a {@code SET}): the pinned time, or the sidecar's own time plus the offset.
   */
  public long approximateNowMs() {
    long value = valueMs.getAsLong();
    return mode.equals("p") ? value : System.currentTimeMillis() + value;
  }
}
