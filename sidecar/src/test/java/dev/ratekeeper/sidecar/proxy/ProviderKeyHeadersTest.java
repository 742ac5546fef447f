package dev.ratekeeper.sidecar.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.policy.compile.CompiledIdentity;
import dev.ratekeeper.sidecar.upstream.CooldownScope;
import io.vertx.core.MultiMap;
import org.junit.jupiter.api.Test;

/** The provider key travels in each format's own header; a sidecar-held key replaces every client credential. */
class ProviderKeyHeadersTest {
  private static final CompiledIdentity IDENTITY =
      new CompiledIdentity("X-Ratekeeper-User", "X-Ratekeeper-Tier", false, "X-Ratekeeper-Api-Key", null);

  private static MultiMap clientHeaders() {
    return MultiMap.caseInsensitiveMultiMap().add("api-key", "client-azure-key").add("Authorization", "Bearer client")
        .add("x-api-key", "client-anthropic").add("content-type", "application/json").add("X-Ratekeeper-User", "alice");
  }

  @Test
  void azureGetsTheSidecarHeldKeyInApiKeyAndNoClientCredential() {
    MultiMap out = Headers.upstreamRequest(clientHeaders(), IDENTITY, UpstreamFormat.AZURE_OPENAI, "sk-azure", true);

    assertThat(out.getAll("api-key")).containsExactly("sk-azure");
    assertThat(out.contains("authorization")).isFalse();
    assertThat(out.contains("x-api-key")).isFalse();
    assertThat(out.contains("X-Ratekeeper-User")).isFalse();
    assertThat(out.get("content-type")).isEqualTo("application/json");
  }

  @Test
  void eachFormatHasItsOwnHeader() {
    assertThat(Headers.upstreamRequest(clientHeaders(), IDENTITY, UpstreamFormat.OPENAI, "sk-o", true).get("authorization"))
        .isEqualTo("Bearer sk-o");
    MultiMap anthropic = Headers.upstreamRequest(clientHeaders(), IDENTITY, UpstreamFormat.ANTHROPIC, "sk-a", true);
    assertThat(anthropic.getAll("x-api-key")).containsExactly("sk-a");
    assertThat(anthropic.contains("api-key")).isFalse();
  }

  @Test
  void withoutASidecarKeyTheClientsAzureKeyPassesThrough() {
    MultiMap out = Headers.upstreamRequest(MultiMap.caseInsensitiveMultiMap().add("api-key", "client-azure-key"), IDENTITY,
        UpstreamFormat.AZURE_OPENAI, null, true);

    assertThat(out.get("api-key")).isEqualTo("client-azure-key");
  }

  @Test
  void azureCooldownsAreScopedByTheClientsApiKeyHashedNeverInClear() {
    MultiMap one = MultiMap.caseInsensitiveMultiMap().add("api-key", "key-one");
    MultiMap two = MultiMap.caseInsensitiveMultiMap().add("api-key", "key-two");

    CooldownScope first = CooldownScope.of("azure", UpstreamFormat.AZURE_OPENAI, false, one);
    assertThat(first.credential()).startsWith("k").doesNotContain("key-one");
    assertThat(first).isNotEqualTo(CooldownScope.of("azure", UpstreamFormat.AZURE_OPENAI, false, two));
    assertThat(CooldownScope.of("azure", UpstreamFormat.AZURE_OPENAI, true, one).credential())
        .isEqualTo(CooldownScope.SIDECAR);
    assertThat(CooldownScope.of("azure", UpstreamFormat.AZURE_OPENAI, false, MultiMap.caseInsensitiveMultiMap())
        .credential()).isEqualTo(CooldownScope.NONE);
  }
}
