package dev.ratekeeper.operator.status;

import dev.ratekeeper.policy.api.Condition;
import dev.ratekeeper.policy.api.RateLimitPolicyStatus;
import java.util.Objects;
import java.util.Optional;

/**
 * A Kubernetes Event worth recording: the policy was accepted (Normal) or refused, or Redis became
 * unreachable (Warning). Announced only when the {@code Accepted} condition changes status, reason
 * or message, so periodic refreshes stay silent.
 */
public record Announcement(String type, String reason, String message) {
  public static final String NORMAL = "Normal";
  public static final String WARNING = "Warning";

  public static Optional<Announcement> between(RateLimitPolicyStatus previous, RateLimitPolicyStatus next) {
    Optional<Condition> before = previous == null ? Optional.empty()
        : Conditions.find(previous.conditions, Conditions.ACCEPTED);
    Optional<Condition> after = Conditions.find(next.conditions, Conditions.ACCEPTED);
    if (after.isEmpty()) {
      return Optional.empty();
    }
    Condition now = after.get();
    if (before.isPresent() && Objects.equals(before.get().status, now.status)
        && Objects.equals(before.get().reason, now.reason) && Objects.equals(before.get().message, now.message)) {
      return Optional.empty();
    }
    boolean good = ConditionState.TRUE.equals(now.status) && Acceptance.COMPILED.equals(now.reason);
    String reason = good ? "Accepted" : now.reason;
    return Optional.of(new Announcement(good ? NORMAL : WARNING, reason, now.message));
  }
}
