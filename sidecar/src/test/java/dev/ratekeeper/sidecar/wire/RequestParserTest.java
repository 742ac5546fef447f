package dev.ratekeeper.sidecar.wire;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class RequestParserTest {
  private static RequestParser.Result parse(Endpoint endpoint, String json) {
    return RequestParser.parse(endpoint, json.getBytes(StandardCharsets.UTF_8));
  }

  private static MeteredRequest ok(Endpoint endpoint, String json) {
    RequestParser.Result result = parse(endpoint, json);
    assertThat(result).isInstanceOf(RequestParser.Parsed.class);
    return ((RequestParser.Parsed) result).request();
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "{not json                         | request body is not valid JSON",
      "[1,2]                             | request body must be a JSON object",
      "{\"messages\":[]}                 | model: field required",
      "{\"model\":\"\"}                  | model: field required",
      "{\"model\":42}                    | model: field required",
      "{\"model\":\"m\",\"max_tokens\":0} | max_tokens: must be a positive integer",
      "{\"model\":\"m\",\"max_tokens\":\"9\"} | max_tokens: must be a positive integer",
      "{\"model\":\"m\",\"max_tokens\":1.5} | max_tokens: must be a positive integer",
      "{\"model\":\"m\",\"stream\":\"yes\"} | stream: must be a boolean"})
  void badBodiesAreInvalidRequests(String body, String message) {
    RequestParser.Result result = parse(Endpoint.ANTHROPIC_MESSAGES, body);
    assertThat(result).isInstanceOf(RequestParser.Invalid.class);
    ProviderError error = ((RequestParser.Invalid) result).error();
    assertThat(error.status()).isEqualTo(400);
    assertThat(error.message()).startsWith(message);
  }

  @Test
  void readsModelCapAndStream() {
    MeteredRequest r = ok(Endpoint.OPENAI_CHAT,
        "{\"model\":\"gpt-4o\",\"max_completion_tokens\":300,\"stream\":true,\"messages\":[]}");
    assertThat(r.model()).isEqualTo("gpt-4o");
    assertThat(r.outputCap()).isEqualTo(300);
    assertThat(r.stream()).isTrue();
    assertThat(r.clientAskedForUsage()).isFalse();
    assertThat(r.rewritten()).isFalse();
  }

  @Test
  void setsCapInTheFieldTheClientUsedOrTheEndpointDefault() throws Exception {
    MeteredRequest used = ok(Endpoint.OPENAI_CHAT, "{\"model\":\"gpt-4o\",\"max_tokens\":50}");
    used = used.withOutputCap(20);
    assertThat(json(used)).contains("\"max_tokens\":20").doesNotContain("max_completion_tokens");

    MeteredRequest none = ok(Endpoint.OPENAI_RESPONSES, "{\"model\":\"gpt-4o\",\"input\":\"hi\"}");
    none = none.withOutputCap(2000);
    assertThat(json(none)).contains("\"max_output_tokens\":2000");
    assertThat(none.outputCap()).isEqualTo(2000);
  }

  @Test
  void clampingLowersAnthropicThinkingBudgetBelowTheCap() throws Exception {
    MeteredRequest r = ok(Endpoint.ANTHROPIC_MESSAGES,
        "{\"model\":\"claude-sonnet-4-6\",\"max_tokens\":16000,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":10000}}");
    r = r.withOutputCap(4000);
    assertThat(new ObjectMapper().readTree(r.toBytes()).path("thinking").path("budget_tokens").asLong()).isEqualTo(3999);
  }

  @Test
  void requestsStreamUsageOnlyWhenTheClientDidNot() throws Exception {
    MeteredRequest plain = ok(Endpoint.OPENAI_CHAT, "{\"model\":\"gpt-4o\",\"stream\":true}");
    plain = plain.withStreamUsage();
    assertThat(plain.injectedUsageRequest()).isTrue();
    assertThat(json(plain)).contains("\"stream_options\":{\"include_usage\":true}");

    MeteredRequest asked = ok(Endpoint.OPENAI_CHAT,
        "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    asked = asked.withStreamUsage();
    assertThat(asked.injectedUsageRequest()).isFalse();

    MeteredRequest notStreaming = ok(Endpoint.OPENAI_CHAT, "{\"model\":\"gpt-4o\"}");
    notStreaming = notStreaming.withStreamUsage();
    assertThat(notStreaming.injectedUsageRequest()).isFalse();
    assertThat(json(notStreaming)).doesNotContain("stream_options");
  }

  @Test
  void fallbackRewritesTheModelButRemembersTheOriginal() {
    MeteredRequest r = ok(Endpoint.ANTHROPIC_MESSAGES, "{\"model\":\"claude-sonnet-4-6\",\"max_tokens\":5}");
    r = r.withModel("claude-haiku-4-5");
    assertThat(r.model()).isEqualTo("claude-haiku-4-5");
    assertThat(r.originalModel()).isEqualTo("claude-sonnet-4-6");
  }

  @Test
  void aMemberNamedTwiceIsRefusedSoNoParserCanReadTheBodyAnotherWay() {
    // Ratekeeper reading the first "model" and a provider the last would meter one model and run another
    RequestParser.Result twice = parse(Endpoint.ANTHROPIC_MESSAGES,
        "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,\"model\":\"claude-opus-4-5\"}");
    assertThat(twice).isInstanceOf(RequestParser.Invalid.class);
    assertThat(((RequestParser.Invalid) twice).error().message()).contains("Duplicate field 'model'");
    assertThat(parse(Endpoint.OPENAI_CHAT, "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"role\":\"system\"}]}"))
        .isInstanceOf(RequestParser.Invalid.class);
  }

  @Test
  void nestingDeeperThanTheBoundIsRefusedNotRecursedInto() {
    String deep = "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":"
        + "[".repeat(990) + "]".repeat(990) + "}]}";
    RequestParser.Result result = parse(Endpoint.ANTHROPIC_MESSAGES, deep);
    assertThat(result).isInstanceOf(RequestParser.Invalid.class);
    assertThat(((RequestParser.Invalid) result).error().message()).contains("nesting depth");
  }

  @Test
  void nAndBestOfAreReadAsAnswersAndBounded() {
    assertThat(ok(Endpoint.OPENAI_CHAT, "{\"model\":\"gpt-4o\",\"n\":4}").choices()).isEqualTo(4);
    assertThat(ok(Endpoint.OPENAI_COMPLETIONS, "{\"model\":\"gpt-4o\",\"n\":2,\"best_of\":5}").choices()).isEqualTo(5);
    assertThat(ok(Endpoint.OPENAI_CHAT, "{\"model\":\"gpt-4o\"}").choices()).isEqualTo(1);
    for (String bad : new String[] {"0", "-1", "1.5", "\"4\"", "129", "99999999999"}) {
      assertThat(parse(Endpoint.OPENAI_CHAT, "{\"model\":\"gpt-4o\",\"n\":" + bad + "}")).as(bad)
          .isInstanceOf(RequestParser.Invalid.class);
    }
  }

  @Test
  void aMessageBatchIsReadAsItsRequests() {
    MeteredRequest batch = ok(Endpoint.ANTHROPIC_MESSAGE_BATCHES, "{\"requests\":["
        + "{\"custom_id\":\"a\",\"params\":{\"model\":\"claude-opus-4-5\",\"max_tokens\":64000,\"messages\":[]}},"
        + "{\"custom_id\":\"b\",\"params\":{\"model\":\"claude-opus-4-5\",\"max_tokens\":10,\"messages\":[]}}]}");
    assertThat(batch.parts()).hasSize(2);
    assertThat(batch.model()).isEqualTo("claude-opus-4-5");
    assertThat(batch.parts().get(0).outputCap()).isEqualTo(64000);
    for (String bad : new String[] {"{}", "{\"requests\":[]}", "{\"requests\":[{\"custom_id\":\"a\"}]}",
        "{\"requests\":[{\"params\":{\"max_tokens\":5}}]}",
        "{\"requests\":[{\"params\":{\"model\":\"m\",\"max_tokens\":0}}]}"}) {
      assertThat(parse(Endpoint.ANTHROPIC_MESSAGE_BATCHES, bad)).as(bad).isInstanceOf(RequestParser.Invalid.class);
    }
  }

  private static String json(MeteredRequest r) {
    return new String(r.toBytes(), StandardCharsets.UTF_8);
  }
}
