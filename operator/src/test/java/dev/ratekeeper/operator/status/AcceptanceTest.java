package dev.ratekeeper.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.compile.Compilation;
import dev.ratekeeper.policy.validation.Violation;
import java.util.List;
import org.junit.jupiter.api.Test;

class AcceptanceTest {
  private static final Compilation REFUSED = new Compilation(null, List.of(
      new Violation("spec.defaultTier", "unknown tier \"gold\""),
      new Violation("spec.users[0].tier", "unknown tier \"gold\"")));

  @Test
  void acceptedNamesTheRevision() {
    ConditionState state = Acceptance.accepted("7f3c2a1b9d0e", List.of());

    assertThat(state).isEqualTo(new ConditionState("True", "Compiled",
        "revision 7f3c2a1b9d0e is compiled and current in Redis"));
  }

  @Test
  void missingSecretsStayAcceptedButSayWhatIsMissing() {
    ConditionState state = Acceptance.accepted("7f3c2a1b9d0e", List.of("Secret a not found: x", "Secret b not found: y"));

    assertThat(state.status()).isEqualTo("True");
    assertThat(state.reason()).isEqualTo("SecretMissing");
    assertThat(state.message()).isEqualTo(
        "revision 7f3c2a1b9d0e is compiled and current in Redis; Secret a not found: x; Secret b not found: y");
  }

  @Test
  void invalidNamesEveryPathAndTheRevisionThatStays() {
    ConditionState state = Acceptance.invalid(REFUSED, "7f3c2a1b9d0e");

    assertThat(state.status()).isEqualTo("False");
    assertThat(state.reason()).isEqualTo("InvalidSpec");
    assertThat(state.message()).isEqualTo("spec refused (revision 7f3c2a1b9d0e stays enforced): "
        + "spec.defaultTier: unknown tier \"gold\"; spec.users[0].tier: unknown tier \"gold\"");
  }

  @Test
  void invalidWithoutAnyGoodRevisionSaysNothingIsEnforced() {
    assertThat(Acceptance.invalid(REFUSED, null).message()).startsWith("spec refused (no revision is enforced yet): ");
  }

  @Test
  void storeOutageIsUnknown() {
    ConditionState state = Acceptance.storeUnavailable("Connection refused");

    assertThat(state.status()).isEqualTo("Unknown");
    assertThat(state.reason()).isEqualTo("StoreUnavailable");
    assertThat(state.message()).contains("Connection refused").contains("retrying");
  }
}
