package dev.ratekeeper.policy.compile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class PolicyDocumentTest {
  private static final String HEAD = "apiVersion: ratekeeper.dev/v1alpha1\nkind: RateLimitPolicy\n";

  @Test
  void readsIdAndSpecNamespaceDefaultingToDefault() throws Exception {
    PolicyDocument doc = PolicyDocument.parse(HEAD + "metadata: {name: agents}\nspec:\n  tiers: [{name: free}]\n");

    assertThat(doc.id()).isEqualTo(new PolicyId("default", "agents"));
    assertThat(doc.spec().tiers).extracting(t -> t.name).containsExactly("free");
  }

  @Test
  void refusesAnotherKind() {
    assertThatThrownBy(() -> PolicyDocument.parse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"))
        .isInstanceOf(PolicyDocument.PolicyFormatException.class)
        .hasMessage("expected apiVersion ratekeeper.dev/v1alpha1 and kind RateLimitPolicy, got v1 ConfigMap");
  }

  @Test
  void refusesADocumentWithoutName() {
    assertThatThrownBy(() -> PolicyDocument.parse(HEAD + "spec: {tiers: [{name: free}]}\n"))
        .isInstanceOf(PolicyDocument.PolicyFormatException.class).hasMessage("metadata.name: is required");
  }

  @Test
  void namesAnUnknownFieldByItsPath() {
    assertThatThrownBy(() -> PolicyDocument.parse(HEAD + "metadata: {name: x}\nspec:\n  tiers:\n  - name: free\n"
        + "    requests: {perMinute: 10, burts: 5}\n"))
        .isInstanceOf(PolicyDocument.PolicyFormatException.class)
        .hasMessageStartingWith("spec.tiers[0].requests.burts: unknown field \"burts\"");
  }

  @Test
  void namesAnUnknownEnumValueByItsPath() {
    assertThatThrownBy(() -> PolicyDocument.parse(HEAD + "metadata: {name: x}\nspec:\n  mode: Enforcing\n"
        + "  tiers: [{name: free}]\n"))
        .isInstanceOf(PolicyDocument.PolicyFormatException.class)
        .hasMessage("spec.mode: invalid value \"Enforcing\"");
  }

  @Test
  void refusesFractionsWhereIntegersBelong() {
    assertThatThrownBy(() -> PolicyDocument.parse(HEAD + "metadata: {name: x}\nspec:\n  tiers:\n  - name: free\n"
        + "    requests: {perMinute: 1.5}\n"))
        .isInstanceOf(PolicyDocument.PolicyFormatException.class)
        .hasMessage("spec.tiers[0].requests.perMinute: invalid value \"1.5\"");
  }

  @Test
  void refusesUnquotedMoney() {
    assertThatThrownBy(() -> PolicyDocument.parse(HEAD + "metadata: {name: x}\nspec:\n  tiers:\n  - name: free\n"
        + "    budget: {usd: 1.5, period: Monthly}\n"))
        .isInstanceOf(PolicyDocument.PolicyFormatException.class)
        .hasMessage("spec.tiers[0].budget.usd: invalid value \"1.5\"");
  }

  @Test
  void refusesNumbersTooLargeForTheirFieldWithThePath() {
    assertThatThrownBy(() -> PolicyDocument.parse(HEAD + "metadata: {name: x}\nspec:\n  tiers:\n  - name: free\n"
        + "    priority: 9007199254740992\n"))
        .isInstanceOf(PolicyDocument.PolicyFormatException.class)
        .hasMessageStartingWith("spec.tiers[0].priority: ");
  }
}
