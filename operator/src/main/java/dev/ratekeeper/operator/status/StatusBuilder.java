package dev.ratekeeper.operator.status;

import dev.ratekeeper.policy.api.Condition;
import dev.ratekeeper.policy.api.RateLimitPolicyStatus;
import dev.ratekeeper.policy.api.SidecarCounts;
import dev.ratekeeper.policy.api.Usage;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds {@code status} from what one reconcile observed. Pure: the reconciler compares the result
 * with the status it read and patches only when they differ.
 */
public final class StatusBuilder {
  /**
   * What one reconcile observed.
   *
   * @param generation the spec's {@code metadata.generation}
   * @param revision the revision current in Redis (the last accepted one), null when none
   * @param accepted the {@code Accepted} condition
   * @param enforcement heartbeat counts and the {@code Enforced} condition
   * @param usage the current period's figures
   */
  public record Observation(long generation, String revision, ConditionState accepted,
      Enforcement.Report enforcement, Usage usage) {}

  private StatusBuilder() {}

  public static RateLimitPolicyStatus build(RateLimitPolicyStatus previous, Observation observed, Instant now) {
    List<Condition> before = previous == null ? List.of() : previous.conditions;
    RateLimitPolicyStatus status = new RateLimitPolicyStatus();
    status.observedGeneration = observed.generation();
    status.revision = observed.revision();
    status.conditions = conditions(before, observed.generation(), observed.accepted(),
        observed.enforcement().condition(), now);
    status.sidecars = observed.enforcement().sidecars();
    status.usage = observed.usage();
    return status;
  }

  /**
   * The status while Redis cannot be read: both conditions Unknown with {@code accepted}'s reason;
   * revision, sidecar counts and usage stay as last seen (they are still the best knowledge).
   */
  public static RateLimitPolicyStatus unavailable(RateLimitPolicyStatus previous, long generation,
      ConditionState accepted, Instant now) {
    List<Condition> before = previous == null ? List.of() : previous.conditions;
    RateLimitPolicyStatus status = new RateLimitPolicyStatus();
    status.observedGeneration = generation;
    status.revision = previous == null ? null : previous.revision;
    ConditionState enforced = ConditionState.unknown(accepted.reason(),
        "sidecar heartbeats cannot be read until the operator reaches Redis again");
    status.conditions = conditions(before, generation, accepted, enforced, now);
    status.sidecars = previous == null ? null : copy(previous.sidecars);
    status.usage = previous == null ? null : previous.usage;
    return status;
  }

  private static List<Condition> conditions(List<Condition> before, long generation, ConditionState accepted,
      ConditionState enforced, Instant now) {
    List<Condition> conditions = new ArrayList<>(2);
    conditions.add(Conditions.stamp(Conditions.ACCEPTED, accepted, generation, before, now));
    conditions.add(Conditions.stamp(Conditions.ENFORCED, enforced, generation, before, now));
    return conditions;
  }

  private static SidecarCounts copy(SidecarCounts counts) {
    return counts == null ? null : new SidecarCounts(counts.total, counts.synced);
  }
}
