package dev.ratekeeper.operator.status;

import java.util.Objects;

/**
 * What one condition says, before it is stamped with a generation and a transition time:
 * {@code status} is True, False or Unknown, {@code reason} a CamelCase word, {@code message} a
 * sentence a user can act on.
 */
public record ConditionState(String status, String reason, String message) {
  public static final String TRUE = "True";
  public static final String FALSE = "False";
  public static final String UNKNOWN = "Unknown";

  public ConditionState {
    Objects.requireNonNull(status, "status");
    Objects.requireNonNull(reason, "reason");
    Objects.requireNonNull(message, "message");
  }

  public static ConditionState isTrue(String reason, String message) {
    return new ConditionState(TRUE, reason, message);
  }

  public static ConditionState isFalse(String reason, String message) {
    return new ConditionState(FALSE, reason, message);
  }

  public static ConditionState unknown(String reason, String message) {
    return new ConditionState(UNKNOWN, reason, message);
  }
}
