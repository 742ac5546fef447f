package dev.ratekeeper.policy.compile;

/**
 * A token bucket: {@code limit} units refill evenly over {@code periodMs}; at most {@code burst}
 * units are admitted at once from idle.
 */
public record Rate(long limit, long periodMs, long burst) {
  public static final long MINUTE_MS = 60_000L;

  /** A per-minute rate; {@code burst} null means a full minute's worth. Null {@code perMinute}: no rate. */
  public static Rate perMinute(Long perMinute, Long burst) {
    if (perMinute == null) {
      return null;
    }
    return new Rate(perMinute, MINUTE_MS, burst == null ? perMinute : burst);
  }

  /** This rate scaled to {@code percent} of its limit and burst, never below 1. */
  public Rate share(int percent) {
    return new Rate(Math.max(1, limit * percent / 100), periodMs, Math.max(1, burst * percent / 100));
  }
}
