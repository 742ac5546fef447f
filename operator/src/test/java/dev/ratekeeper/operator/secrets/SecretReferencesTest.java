package dev.ratekeeper.operator.secrets;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import dev.ratekeeper.policy.compile.Compilation;
import dev.ratekeeper.policy.compile.PolicyCompiler;
import dev.ratekeeper.policy.compile.PolicyId;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class SecretReferencesTest {
  private static final RateLimitPolicySpec SPEC = Serialization.unmarshal("""
      identity:
        apiKeySecretRef: {name: agent-keys}
      tiers:
      - name: free
        requests: {perMinute: 10}
      upstreams:
      - {name: anthropic, url: "https://api.anthropic.com", format: anthropic,
         credentialsSecretRef: {name: provider-keys, key: anthropic}}
      - {name: openai, url: "https://api.openai.com", format: openai,
         credentialsSecretRef: {name: provider-keys, key: openai}}
      """, RateLimitPolicySpec.class);

  private static Secret secret(String name, Map<String, String> data) {
    return new SecretBuilder().withNewMetadata().withName(name).endMetadata().withData(data).build();
  }

  @Test
  void theSpecNamesEachSecretOnce() {
    assertThat(SecretReferences.namesIn(SPEC)).containsExactly("agent-keys", "provider-keys");
    assertThat(SecretReferences.namesIn(new RateLimitPolicySpec())).isEmpty();
    assertThat(SecretReferences.namesIn(null)).isEmpty();
  }

  @Test
  void missingSecretsAndKeysAreNamedWithTheirFieldPaths() {
    Compilation compilation = PolicyCompiler.compile(new PolicyId("ns", "p"), SPEC);
    assertThat(compilation.ok()).as(compilation.describeViolations()).isTrue();
    var refs = SecretReferences.of(compilation.policy());

    var problems = SecretReferences.problems(refs, name -> name.equals("provider-keys")
        ? Optional.of(secret("provider-keys", Map.of("anthropic", "eA=="))) : Optional.empty());

    assertThat(problems).containsExactly(
        "Secret agent-keys (spec.identity.apiKeySecretRef) not found: no end-user API key is recognised",
        "Secret provider-keys has no key openai (spec.upstreams[1].credentialsSecretRef): "
            + "sidecars cannot add the provider key for upstream openai");
  }

  @Test
  void everythingPresentIsNoProblem() {
    var refs = SecretReferences.of(PolicyCompiler.compile(new PolicyId("ns", "p"), SPEC).policy());

    assertThat(SecretReferences.problems(refs, name -> Optional.of(secret(name,
        Map.of("anthropic", "eA==", "openai", "eA==", "alice", "eA=="))))).isEmpty();
  }
}
