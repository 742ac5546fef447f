package dev.ratekeeper.sidecar.identity;

/**
 * How many unknown keys may still be tried: a token bucket of {@code burst} tokens refilled at
 * {@code perSecond}, on the caller's clock (nanoseconds). Thread-safe.
 */
final class FailureBudget {
  private final int burst;
  private final int perSecond;
  private double tokens;
  private long refilledAt;

  FailureBudget(int burst, int perSecond, long nowNanos) {
    this.burst = burst;
    this.perSecond = perSecond;
    this.tokens = burst;
    this.refilledAt = nowNanos;
  }

  /** 0 while an unknown key may be tried, else how long until one may. */
  synchronized long waitMs(long nowNanos) {
    refill(nowNanos);
    return tokens >= 1 ? 0 : (long) Math.ceil((1 - tokens) * 1000 / perSecond);
  }

  /** One unknown key was tried. */
  synchronized void spend(long nowNanos) {
    refill(nowNanos);
    tokens = Math.max(0, tokens - 1);
  }

  private void refill(long nowNanos) {
    tokens = Math.min(burst, tokens + (nowNanos - refilledAt) / 1e9 * perSecond);
    refilledAt = nowNanos;
  }
}
