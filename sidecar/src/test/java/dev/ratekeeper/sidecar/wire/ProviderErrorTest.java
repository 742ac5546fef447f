package dev.ratekeeper.sidecar.wire;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ratekeeper.policy.api.UpstreamFormat;
import org.junit.jupiter.api.Test;

class ProviderErrorTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void anthropicShape() throws Exception {
    JsonNode body = JSON.readTree(ProviderError.of(ProviderError.Kind.RATE_LIMITED, "slow down").body(UpstreamFormat.ANTHROPIC));
    assertThat(body.path("type").asText()).isEqualTo("error");
    assertThat(body.path("error").path("type").asText()).isEqualTo("rate_limit_error");
    assertThat(body.path("error").path("message").asText()).isEqualTo("slow down");
  }

  @Test
  void openAiShape() throws Exception {
    JsonNode body = JSON.readTree(ProviderError.of(ProviderError.Kind.BUDGET_EXHAUSTED, "budget").body(UpstreamFormat.OPENAI));
    assertThat(body.path("error").path("type").asText()).isEqualTo("insufficient_quota");
    assertThat(body.path("error").path("code").asText()).isEqualTo("insufficient_quota");
    assertThat(body.path("error").path("message").asText()).isEqualTo("budget");
    assertThat(body.path("error").has("param")).isTrue();
  }

  @Test
  void statusesFollowTheKind() {
    assertThat(ProviderError.of(ProviderError.Kind.TOO_LARGE, "x").status()).isEqualTo(413);
    assertThat(ProviderError.of(ProviderError.Kind.UPSTREAM_TIMEOUT, "x").status()).isEqualTo(504);
    assertThat(ProviderError.of(ProviderError.Kind.STORE_UNAVAILABLE, "x").status()).isEqualTo(503);
  }
}
