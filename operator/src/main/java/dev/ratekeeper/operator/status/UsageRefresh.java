package dev.ratekeeper.operator.status;

import dev.ratekeeper.policy.api.RateLimitPolicyStatus;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Keeps usage from rewriting a policy's status more than once per interval (a minute): a status
 * whose only change is usage keeps the usage last written until the interval has passed, so a busy
 * fleet costs one status write per policy per minute, not one per refresh. Any other change
 * (conditions, revision, generation, sidecars) is written at once, with the fresh usage.
 */
public final class UsageRefresh {
  public static final Duration DEFAULT_INTERVAL = Duration.ofMinutes(1);

  private final Duration interval;
  private final Map<String, Instant> lastWritten = new ConcurrentHashMap<>();

  public UsageRefresh(Duration interval) {
    this.interval = interval;
  }

  /**
   * The status to write for the policy {@code key}: {@code next}, or {@code next} with the current
   * usage when usage is all that changed and it was written less than an interval ago.
   */
  public RateLimitPolicyStatus apply(String key, RateLimitPolicyStatus current, RateLimitPolicyStatus next,
      Instant now) {
    if (current == null || Objects.equals(current.usage, next.usage)) {
      return next;
    }
    RateLimitPolicyStatus keptUsage = copy(next);
    keptUsage.usage = current.usage;
    Instant last = lastWritten.get(key);
    if (current.equals(keptUsage) && last != null && now.isBefore(last.plus(interval))) {
      return keptUsage;
    }
    lastWritten.put(key, now);
    return next;
  }

  /** The policy is gone: forget when its usage was written. */
  public void forget(String key) {
    lastWritten.remove(key);
  }

  private static RateLimitPolicyStatus copy(RateLimitPolicyStatus status) {
    RateLimitPolicyStatus copy = new RateLimitPolicyStatus();
    copy.observedGeneration = status.observedGeneration;
    copy.revision = status.revision;
    copy.conditions = status.conditions;
    copy.sidecars = status.sidecars;
    copy.usage = status.usage;
    return copy;
  }
}
