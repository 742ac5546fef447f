package dev.ratekeeper.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.Condition;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConditionsTest {
  private static final Instant T0 = Instant.parse("2026-11-23T10:00:00.123Z");
  private static final Instant T1 = Instant.parse("2026-11-23T11:00:00Z");

  @Test
  void aNewConditionTransitionsNowWholeSeconds() {
    Condition c = Conditions.stamp("Accepted", ConditionState.isTrue("Compiled", "ok"), 3, List.of(), T0);

    assertThat(c.type).isEqualTo("Accepted");
    assertThat(c.status).isEqualTo("True");
    assertThat(c.reason).isEqualTo("Compiled");
    assertThat(c.message).isEqualTo("ok");
    assertThat(c.observedGeneration).isEqualTo(3L);
    assertThat(c.lastTransitionTime).isEqualTo("2026-11-23T10:00:00Z");
  }

  @Test
  void keepsTheTransitionTimeWhileTheStatusStaysEvenWhenReasonAndMessageMove() {
    Condition before = Conditions.stamp("Enforced", ConditionState.isFalse("NoSidecars", "none"), 1, List.of(), T0);

    Condition after = Conditions.stamp("Enforced", ConditionState.isFalse("SidecarsBehind", "1/2"), 2,
        List.of(before), T1);

    assertThat(after.lastTransitionTime).isEqualTo("2026-11-23T10:00:00Z");
    assertThat(after.reason).isEqualTo("SidecarsBehind");
    assertThat(after.observedGeneration).isEqualTo(2L);
  }

  @Test
  void movesTheTransitionTimeWhenTheStatusChanges() {
    Condition before = Conditions.stamp("Enforced", ConditionState.isFalse("NoSidecars", "none"), 1, List.of(), T0);

    Condition after = Conditions.stamp("Enforced", ConditionState.isTrue("SidecarsSynced", "1/1"), 1,
        List.of(before), T1);

    assertThat(after.lastTransitionTime).isEqualTo("2026-11-23T11:00:00Z");
  }

  @Test
  void onlyTheSameTypeCounts() {
    Condition accepted = Conditions.stamp("Accepted", ConditionState.isTrue("Compiled", "ok"), 1, List.of(), T0);

    Condition enforced = Conditions.stamp("Enforced", ConditionState.isTrue("SidecarsSynced", "1/1"), 1,
        List.of(accepted), T1);

    assertThat(enforced.lastTransitionTime).isEqualTo("2026-11-23T11:00:00Z");
    assertThat(Conditions.find(List.of(accepted), "Enforced")).isEmpty();
    assertThat(Conditions.find(null, "Accepted")).isEmpty();
  }
}
