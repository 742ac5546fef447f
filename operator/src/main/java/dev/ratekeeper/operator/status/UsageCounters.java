package dev.ratekeeper.operator.status;

import java.util.List;

/**
 * Usage statistics of one period as the sidecars' scripts left them in Redis: admitted and
 * throttled requests, spend in micro-dollars, and the biggest spenders (highest spend first).
 */
public record UsageCounters(long requests, long throttled, long spendMicros, List<Spender> topSpenders) {
  public static final UsageCounters NONE = new UsageCounters(0, 0, 0, List.of());

  /** One user of the top-spender set; {@code tier} and {@code tokens} are null when not recorded. */
  public record Spender(String user, long spendMicros, String tier, Long tokens) {}
}
