package dev.ratekeeper.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.Condition;
import dev.ratekeeper.policy.api.RateLimitPolicyStatus;
import dev.ratekeeper.policy.api.SidecarCounts;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class StatusBuilderTest {
  private static final Instant T0 = Instant.parse("2026-11-23T10:00:00Z");
  private static final Instant T1 = Instant.parse("2026-11-23T10:00:10Z");
  private static final String REV = "7f3c2a1b9d0e";

  private static StatusBuilder.Observation observed(long generation, ConditionState accepted, int synced) {
    var enforcement = Enforcement.evaluate(
        synced == 0 ? List.of() : List.of(new Heartbeat("a", 0, REV)), REV, 0, java.time.Duration.ofSeconds(15));
    return new StatusBuilder.Observation(generation, REV, accepted, enforcement,
        UsageReport.of("2026-11", UsageCounters.NONE));
  }

  @Test
  void buildsEveryFieldWithBothConditions() {
    RateLimitPolicyStatus status = StatusBuilder.build(null, observed(4, Acceptance.accepted(REV, List.of()), 1), T0);

    assertThat(status.observedGeneration).isEqualTo(4L);
    assertThat(status.revision).isEqualTo(REV);
    assertThat(status.sidecars).isEqualTo(new SidecarCounts(1, 1));
    assertThat(status.usage.period).isEqualTo("2026-11");
    assertThat(status.conditions).extracting(c -> c.type + "=" + c.status + "/" + c.reason)
        .containsExactly("Accepted=True/Compiled", "Enforced=True/SidecarsSynced");
    assertThat(status.conditions).allSatisfy(c -> {
      assertThat(c.observedGeneration).isEqualTo(4L);
      assertThat(c.lastTransitionTime).isEqualTo("2026-11-23T10:00:00Z");
    });
  }

  @Test
  void theSameObservationLaterBuildsAnEqualStatusSoNothingIsPatched() {
    RateLimitPolicyStatus first = StatusBuilder.build(null, observed(4, Acceptance.accepted(REV, List.of()), 1), T0);

    RateLimitPolicyStatus again = StatusBuilder.build(first, observed(4, Acceptance.accepted(REV, List.of()), 1), T1);

    assertThat(again).isEqualTo(first);
    assertThat(Announcement.between(first, again)).isEmpty();
  }

  @Test
  void aChangedConditionKeepsTheOtherConditionsTransitionTime() {
    RateLimitPolicyStatus first = StatusBuilder.build(null, observed(4, Acceptance.accepted(REV, List.of()), 1), T0);

    RateLimitPolicyStatus next = StatusBuilder.build(first, observed(4, Acceptance.accepted(REV, List.of()), 0), T1);

    assertThat(next).isNotEqualTo(first);
    assertThat(Conditions.find(next.conditions, "Accepted").orElseThrow().lastTransitionTime)
        .isEqualTo("2026-11-23T10:00:00Z");
    Condition enforced = Conditions.find(next.conditions, "Enforced").orElseThrow();
    assertThat(enforced.status).isEqualTo("False");
    assertThat(enforced.lastTransitionTime).isEqualTo("2026-11-23T10:00:10Z");
  }

  @Test
  void unavailableKeepsWhatWasLastSeenAndMakesBothConditionsUnknown() {
    RateLimitPolicyStatus first = StatusBuilder.build(null, observed(4, Acceptance.accepted(REV, List.of()), 1), T0);

    RateLimitPolicyStatus down = StatusBuilder.unavailable(first, 5, Acceptance.storeUnavailable("refused"), T1);

    assertThat(down.revision).isEqualTo(REV);
    assertThat(down.sidecars).isEqualTo(first.sidecars);
    assertThat(down.usage).isEqualTo(first.usage);
    assertThat(down.observedGeneration).isEqualTo(5L);
    assertThat(down.conditions).extracting(c -> c.type + "=" + c.status + "/" + c.reason)
        .containsExactly("Accepted=Unknown/StoreUnavailable", "Enforced=Unknown/StoreUnavailable");
    assertThat(StatusBuilder.unavailable(null, 1, Acceptance.storeUnavailable("x"), T0).revision).isNull();
  }

  @Test
  void announcesAcceptanceRefusalAndOutageOnlyWhenAcceptedChanges() {
    RateLimitPolicyStatus accepted = StatusBuilder.build(null, observed(1, Acceptance.accepted(REV, List.of()), 0), T0);
    assertThat(Announcement.between(null, accepted)).contains(new Announcement("Normal", "Accepted",
        "revision " + REV + " is compiled and current in Redis"));

    var refused = StatusBuilder.build(accepted, observed(2, Acceptance.invalid(
        new dev.ratekeeper.policy.compile.Compilation(null, List.of(
            new dev.ratekeeper.policy.validation.Violation("spec.tiers", "bad"))), REV), 0), T1);
    assertThat(Announcement.between(accepted, refused)).hasValueSatisfying(a -> {
      assertThat(a.type()).isEqualTo("Warning");
      assertThat(a.reason()).isEqualTo("InvalidSpec");
      assertThat(a.message()).contains("spec.tiers: bad");
    });

    var down = StatusBuilder.unavailable(accepted, 1, Acceptance.storeUnavailable("refused"), T1);
    assertThat(Announcement.between(accepted, down)).hasValueSatisfying(a ->
        assertThat(a.reason()).isEqualTo("StoreUnavailable"));

    var missing = StatusBuilder.build(accepted, observed(1, Acceptance.accepted(REV, List.of("Secret k not found")), 0), T1);
    assertThat(Announcement.between(accepted, missing)).hasValueSatisfying(a -> {
      assertThat(a.type()).isEqualTo("Warning");
      assertThat(a.reason()).isEqualTo("SecretMissing");
    });
  }
}
