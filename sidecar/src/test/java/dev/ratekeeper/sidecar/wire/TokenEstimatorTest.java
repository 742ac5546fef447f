package dev.ratekeeper.sidecar.wire;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ratekeeper.policy.api.UpstreamFormat;
import org.junit.jupiter.api.Test;

class TokenEstimatorTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void openAiTextIsCountedWithTheModelsTokenizer() throws Exception {
    JsonNode body = JSON.readTree("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello world\"}]}");
    long tokens = TokenEstimator.estimateInput(UpstreamFormat.OPENAI, "gpt-4o", body);
    // "user\nHello world\n" in o200k_base plus one message's framing
    long text = TokenEstimator.encodingFor("gpt-4o").countTokensOrdinary("user\nHello world\n");
    assertThat(tokens).isEqualTo(text + TokenEstimator.PER_MESSAGE_TOKENS);
    assertThat(text).isBetween(3L, 6L);
  }

  @Test
  void anthropicTextIsThreeCharactersPerToken() throws Exception {
    String text = "x".repeat(300);
    JsonNode body = JSON.readTree("{\"model\":\"claude-haiku-4-5\",\"system\":\"" + text + "\"}");
    // 300 chars + newline = 301 -> 101 tokens; "model" is not prompt text
    assertThat(TokenEstimator.estimateInput(UpstreamFormat.ANTHROPIC, "claude-haiku-4-5", body)).isEqualTo(101);
  }

  @Test
  void imagesAreEstimatedPerBlockNotByTheirBase64() throws Exception {
    String base64 = "A".repeat(200_000);
    JsonNode body = JSON.readTree("{\"model\":\"claude-sonnet-4-6\",\"messages\":[{\"role\":\"user\",\"content\":["
        + "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"" + base64 + "\"}},"
        + "{\"type\":\"document\",\"source\":{\"type\":\"base64\",\"media_type\":\"application/pdf\",\"data\":\"" + base64 + "\"}}]}]}");
    long tokens = TokenEstimator.estimateInput(UpstreamFormat.ANTHROPIC, "claude-sonnet-4-6", body);
    // "user\n" = 5 chars -> 2 tokens, one message, one image, one document
    assertThat(tokens).isEqualTo(2 + TokenEstimator.PER_MESSAGE_TOKENS + TokenEstimator.IMAGE_TOKENS
        + TokenEstimator.DOCUMENT_TOKENS);
  }

  @Test
  void legacyModelsUseCl100k() {
    assertThat(TokenEstimator.encodingFor("gpt-4-turbo").getName()).isEqualTo("cl100k_base");
    assertThat(TokenEstimator.encodingFor("gpt-4o-mini").getName()).isEqualTo("o200k_base");
    assertThat(TokenEstimator.encodingFor("o3").getName()).isEqualTo("o200k_base");
  }

  @Test
  void deepNestingIsWalkedWithoutRecursion() throws Exception {
    // 5000 levels: the walk uses its own stack (the parser's depth limit guards the proxy; this guards the walk)
    com.fasterxml.jackson.databind.node.ObjectNode root = JSON.createObjectNode();
    com.fasterxml.jackson.databind.node.ArrayNode inner = root.putArray("messages");
    for (int i = 0; i < 5000; i++) {
      inner = inner.addArray();
    }
    inner.add("x".repeat(30));
    assertThat(TokenEstimator.estimateInput(UpstreamFormat.ANTHROPIC, "claude-haiku-4-5", root)).isEqualTo(11);
  }

  @Test
  void aHugeSingleWordIsEstimatedByCharactersInLinearTime() throws Exception {
    String word = "y".repeat(1 << 20);
    JsonNode body = JSON.readTree("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" + word + "\"}]}");
    long start = System.nanoTime();
    long tokens = TokenEstimator.estimateInput(UpstreamFormat.OPENAI, "gpt-4o", body);
    long ms = (System.nanoTime() - start) / 1_000_000;
    // over the tokenizer bound: one token per 3 ASCII characters ("user\n" + word + "\n")
    assertThat(tokens).isEqualTo(((1 << 20) + 6 + 2) / 3 + TokenEstimator.PER_MESSAGE_TOKENS);
    assertThat(ms).as("ms").isLessThan(1_000);
  }

  @Test
  void textUnderTheBoundIsTokenizedInPiecesSoOneLongWordStaysCheap() throws Exception {
    String word = "ab".repeat(TokenEstimator.TOKENIZER_MAX_CHARS / 2 - 100);
    JsonNode body = JSON.readTree("{\"model\":\"gpt-4o\",\"input\":\"" + word + "\"}");
    long start = System.nanoTime();
    long tokens = TokenEstimator.estimateInput(UpstreamFormat.OPENAI, "gpt-4o", body);
    long ms = (System.nanoTime() - start) / 1_000_000;
    assertThat(tokens).isPositive();
    assertThat(ms).as("ms").isLessThan(3_000);
  }

  @Test
  void nonAsciiTextOverTheBoundCountsOneTokenPerCharacter() {
    assertThat(TokenEstimator.byCharacters("abcdef\u4f60\u597d")).isEqualTo(2 + 2);
  }
}
