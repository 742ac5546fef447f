package dev.ratekeeper.operator.status;

import dev.ratekeeper.policy.api.Condition;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Optional;

/**
 * The one place conditions are stamped: Kubernetes conventions say {@code lastTransitionTime}
 * changes only when {@code status} does, so a condition whose status is unchanged keeps the time
 * of its previous transition even when its reason or message moves on.
 */
public final class Conditions {
  public static final String ACCEPTED = "Accepted";
  public static final String ENFORCED = "Enforced";

  private Conditions() {}

  /** The condition {@code type} in {@code state}, carrying over the transition time from {@code previous}. */
  public static Condition stamp(String type, ConditionState state, long generation, List<Condition> previous,
      Instant now) {
    String transition = find(previous, type)
        .filter(old -> state.status().equals(old.status) && old.lastTransitionTime != null)
        .map(old -> old.lastTransitionTime)
        .orElseGet(() -> now.truncatedTo(ChronoUnit.SECONDS).toString());
    return new Condition(type, state.status(), state.reason(), state.message(), generation, transition);
  }

  /** The condition of {@code type}, if {@code conditions} has one. */
  public static Optional<Condition> find(List<Condition> conditions, String type) {
    if (conditions == null) {
      return Optional.empty();
    }
    return conditions.stream().filter(c -> type.equals(c.type)).findFirst();
  }
}
