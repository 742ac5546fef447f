package dev.ratekeeper.operator.status;

/**
 * One tier's calls in the current statistics period as the sidecars' scripts counted them
 * ({@code requests:<tier>} admitted, {@code throttled:<tier>} answered 429).
 */
public record TierTraffic(long requests, long throttled) {
  public static final TierTraffic NONE = new TierTraffic(0, 0);
}
