package dev.ratekeeper.operator.status;

import java.util.List;

/**
 * Usage statistics of one period as the sidecars' scripts left them in Redis: admitted and
 * throttled requests, spend in micro-dollars, the biggest spenders (highest spend first), and the calls
 * charged on the sidecar's estimate instead of the provider's usage.
 */
public record UsageCounters(long requests, long throttled, long spendMicros, List<Spender> topSpenders,
    long estimated) {
  public static final UsageCounters NONE = new UsageCounters(0, 0, 0, List.of(), 0);

  /** Without calls charged on an estimate. */
  public UsageCounters(long requests, long throttled, long spendMicros, List<Spender> topSpenders) {
    this(requests, throttled, spendMicros, topSpenders, 0);
  }

  /** One user of the top-spender set; {@code tier} and {@code tokens} are null when not recorded. */
  public record Spender(String user, long spendMicros, String tier, Long tokens) {}
}
