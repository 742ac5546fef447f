package dev.ratekeeper.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.SidecarCounts;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class EnforcementTest {
  private static final long NOW = 1_800_000_000_000L;
  private static final Duration WINDOW = Duration.ofSeconds(15);
  private static final String REV = "7f3c2a1b9d0e";

  private static Heartbeat beat(String id, long ageMs, String revision) {
    return new Heartbeat(id, NOW - ageMs, revision);
  }

  @Test
  void everyLiveSidecarOnTheCurrentRevisionIsEnforced() {
    List<Heartbeat> beats = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      beats.add(beat("pod-" + i, 1000L * i, REV));
    }

    Enforcement.Report report = Enforcement.evaluate(beats, REV, NOW, WINDOW);

    assertThat(report.sidecars()).isEqualTo(new SidecarCounts(5, 5));
    assertThat(report.condition()).isEqualTo(new ConditionState("True", "SidecarsSynced",
        "5/5 sidecars enforce revision " + REV));
  }

  @Test
  void staleSidecarsDoNotCountAndTheWindowEdgeIsLive() {
    List<Heartbeat> beats = List.of(beat("a", 0, REV), beat("edge", 15_000, REV), beat("gone", 15_001, "old"));

    Enforcement.Report report = Enforcement.evaluate(beats, REV, NOW, WINDOW);

    assertThat(report.sidecars()).isEqualTo(new SidecarCounts(2, 2));
    assertThat(report.condition().status()).isEqualTo("True");
  }

  @Test
  void sidecarsOnAnotherRevisionOrNoneAreBehindAndNamed() {
    List<Heartbeat> beats = List.of(beat("a", 0, REV), beat("b", 0, "0123456789ab"), beat("c", 0, null));

    Enforcement.Report report = Enforcement.evaluate(beats, REV, NOW, WINDOW);

    assertThat(report.sidecars()).isEqualTo(new SidecarCounts(3, 1));
    assertThat(report.condition()).isEqualTo(new ConditionState("False", "SidecarsBehind",
        "1/3 sidecars enforce revision " + REV + "; behind: b (revision 0123456789ab), c (no revision reported)"));
  }

  @Test
  void namesAtMostFiveLaggards() {
    List<Heartbeat> beats = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      beats.add(beat("pod-" + i, 0, "old"));
    }

    String message = Enforcement.evaluate(beats, REV, NOW, WINDOW).condition().message();

    assertThat(message).startsWith("0/8 sidecars enforce revision " + REV + "; behind: pod-0 (revision old), ")
        .contains("pod-4").doesNotContain("pod-5").endsWith(" and 3 more");
  }

  @Test
  void noLiveSidecarIsNotEnforced() {
    Enforcement.Report report = Enforcement.evaluate(List.of(beat("gone", 60_000, REV)), REV, NOW, WINDOW);

    assertThat(report.sidecars()).isEqualTo(new SidecarCounts(0, 0));
    assertThat(report.condition().status()).isEqualTo("False");
    assertThat(report.condition().reason()).isEqualTo("NoSidecars");
    assertThat(report.condition().message()).contains("last 15s");
  }

  @Test
  void withoutAnAcceptedRevisionNothingIsEnforced() {
    Enforcement.Report report = Enforcement.evaluate(List.of(beat("a", 0, "x")), null, NOW, WINDOW);

    assertThat(report.sidecars()).isEqualTo(new SidecarCounts(1, 0));
    assertThat(report.condition().reason()).isEqualTo("NoRevision");
  }
}
