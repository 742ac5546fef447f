package dev.ratekeeper.sidecar.wire;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.compile.CompiledPricing;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class UsageReaderTest {
  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void anthropicMessageUsageWithCacheTokens() {
    String body = """
        {"id":"msg_1","type":"message","content":[{"type":"text","text":"hi"}],
         "usage":{"input_tokens":12,"cache_creation_input_tokens":1000,"cache_read_input_tokens":2000,"output_tokens":30}}""";
    assertThat(UsageReader.fromJson(Endpoint.ANTHROPIC_MESSAGES, bytes(body))).contains(new Usage(12, 30, 2000, 1000));
  }

  @Test
  void openAiChatUsageSubtractsCachedPromptTokens() {
    String body = """
        {"id":"c","object":"chat.completion","choices":[],
         "usage":{"prompt_tokens":1200,"completion_tokens":50,"total_tokens":1250,"prompt_tokens_details":{"cached_tokens":1024}}}""";
    assertThat(UsageReader.fromJson(Endpoint.OPENAI_CHAT, bytes(body))).contains(new Usage(176, 50, 1024, 0));
  }

  @Test
  void embeddingsHaveNoOutput() {
    String body = "{\"object\":\"list\",\"data\":[],\"usage\":{\"prompt_tokens\":8,\"total_tokens\":8}}";
    assertThat(UsageReader.fromJson(Endpoint.OPENAI_EMBEDDINGS, bytes(body))).contains(new Usage(8, 0, 0, 0));
  }

  @Test
  void missingOrBrokenUsageIsEmpty() {
    assertThat(UsageReader.fromJson(Endpoint.OPENAI_CHAT, bytes("{\"id\":1}"))).isEmpty();
    assertThat(UsageReader.fromJson(Endpoint.OPENAI_CHAT, bytes("{oops"))).isEmpty();
  }

  @Test
  void costFollowsTheDesignFormula() {
    // sonnet: 3 / 15 per million, cache read 0.30, cache write 3.75 (micro-dollars per million)
    CompiledPricing sonnet = new CompiledPricing(3_000_000, 15_000_000, 300_000, 3_750_000);
    Usage usage = new Usage(12, 30, 2000, 1000);
    // 12*3 + 30*15 + 2000*0.3 + 1000*3.75 = 36 + 450 + 600 + 3750 = 4836 micro-dollars
    assertThat(usage.costMicros(sonnet)).isEqualTo(4836);
    assertThat(usage.costMicros(null)).isZero();
  }
}
