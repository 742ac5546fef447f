package dev.ratekeeper.sidecar.wire;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class SseUsageTrackerTest {
  static final String ANTHROPIC_STREAM = """
      event: message_start
      data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-6","content":[],"usage":{"input_tokens":25,"cache_creation_input_tokens":100,"cache_read_input_tokens":400,"output_tokens":1}}}

      event: content_block_start
      data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

      event: content_block_delta
      data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello there"}}

      event: content_block_stop
      data: {"type":"content_block_stop","index":0}

      event: message_delta
      data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}

      event: message_stop
      data: {"type":"message_stop"}

      """;

  static final String OPENAI_STREAM = """
      data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}

      data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" you"},"finish_reason":"stop"}]}

      data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":40,"completion_tokens":7,"total_tokens":47,"prompt_tokens_details":{"cached_tokens":30}}}

      data: [DONE]

      """;

  /** Feeds the stream in pieces of {@code size} bytes, as a network would. */
  private static String feed(SseUsageTracker tracker, String stream, int size) {
    byte[] bytes = stream.getBytes(StandardCharsets.UTF_8);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (int i = 0; i < bytes.length; i += size) {
      byte[] chunk = java.util.Arrays.copyOfRange(bytes, i, Math.min(bytes.length, i + size));
      out.writeBytes(tracker.accept(chunk));
    }
    out.writeBytes(tracker.finish());
    return out.toString(StandardCharsets.UTF_8);
  }

  @Test
  void anthropicUsageFromMessageStartAndDeltaIncludingCacheTokens() {
    for (int size : new int[] {1, 7, 64, 100_000}) {
      SseUsageTracker tracker = new SseUsageTracker(Endpoint.ANTHROPIC_MESSAGES, false);
      String forwarded = feed(tracker, ANTHROPIC_STREAM, size);
      assertThat(forwarded).isEqualTo(ANTHROPIC_STREAM);
      assertThat(tracker.reportedUsage()).contains(new Usage(25, 15, 400, 100));
    }
  }

  @Test
  void openAiUsageChunkIsHiddenWhenTheSidecarAskedForIt() {
    for (int size : new int[] {1, 13, 100_000}) {
      SseUsageTracker tracker = new SseUsageTracker(Endpoint.OPENAI_CHAT, true);
      String forwarded = feed(tracker, OPENAI_STREAM, size);
      assertThat(forwarded).doesNotContain("usage").contains("\" you\"").endsWith("data: [DONE]\n\n");
      assertThat(tracker.reportedUsage()).contains(new Usage(10, 7, 30, 0));
    }
  }

  @Test
  void openAiUsageChunkIsKeptWhenTheClientAskedForIt() {
    SseUsageTracker tracker = new SseUsageTracker(Endpoint.OPENAI_CHAT, false);
    assertThat(feed(tracker, OPENAI_STREAM, 5)).isEqualTo(OPENAI_STREAM);
    assertThat(tracker.reportedUsage()).contains(new Usage(10, 7, 30, 0));
  }

  @Test
  void streamCutShortChargesInputEstimatePlusForwardedText() {
    SseUsageTracker tracker = new SseUsageTracker(Endpoint.OPENAI_CHAT, true);
    String firstTwoChunks = OPENAI_STREAM.substring(0, OPENAI_STREAM.indexOf("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[]"));
    tracker.accept(firstTwoChunks.getBytes(StandardCharsets.UTF_8));
    assertThat(tracker.reportedUsage()).isEmpty();
    // "Hi" + " you" = 6 characters -> 2 tokens at 3 characters per token
    assertThat(tracker.usageSoFar(120)).isEqualTo(new Usage(120, 2, 0, 0));
  }

  @Test
  void anthropicCutAfterMessageStartUsesTheProviderInputFigure() {
    SseUsageTracker tracker = new SseUsageTracker(Endpoint.ANTHROPIC_MESSAGES, false);
    String head = ANTHROPIC_STREAM.substring(0, ANTHROPIC_STREAM.indexOf("event: content_block_stop"));
    tracker.accept(head.getBytes(StandardCharsets.UTF_8));
    // provider said 25 input (+ cache); "Hello there" forwarded = 11 chars -> 4 tokens
    assertThat(tracker.usageSoFar(999)).isEqualTo(new Usage(25, 4, 400, 100));
  }

  @Test
  void responsesApiUsageFromResponseCompleted() {
    String stream = """
        event: response.output_text.delta
        data: {"type":"response.output_text.delta","delta":"abc"}

        event: response.completed
        data: {"type":"response.completed","response":{"id":"r1","usage":{"input_tokens":50,"input_tokens_details":{"cached_tokens":20},"output_tokens":9,"total_tokens":59}}}

        """;
    SseUsageTracker tracker = new SseUsageTracker(Endpoint.OPENAI_RESPONSES, false);
    assertThat(feed(tracker, stream, 11)).isEqualTo(stream);
    assertThat(tracker.reportedUsage()).contains(new Usage(30, 9, 20, 0));
  }

  @Test
  void crlfDelimitedEventsAreUnderstood() {
    String stream = OPENAI_STREAM.replace("\n", "\r\n");
    SseUsageTracker tracker = new SseUsageTracker(Endpoint.OPENAI_CHAT, true);
    String forwarded = feed(tracker, stream, 3);
    assertThat(forwarded).doesNotContain("usage");
    assertThat(tracker.reportedUsage()).contains(new Usage(10, 7, 30, 0));
  }

  /** Mistral, Together and others: usage in the last chunk, which also carries the last choice. */
  static final String USAGE_WITH_CHOICES_STREAM = """
      data: {"id":"c2","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}

      data: {"id":"c2","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" you"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14}}

      data: [DONE]

      """;

  /** Groq: usage in its own x_groq extension of the last chunk. */
  static final String GROQ_STREAM = """
      data: {"id":"c3","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"x_groq":{"id":"req_1"}}

      data: {"id":"c3","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"id":"req_1","usage":{"queue_time":0.01,"prompt_tokens":33,"prompt_time":0.002,"completion_tokens":4,"completion_time":0.01,"total_tokens":37}}}

      data: [DONE]

      """;

  /** vLLM with continuous usage stats: every chunk carries the running usage; the last one counts. */
  static final String CUMULATIVE_STREAM = """
      data: {"id":"c4","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}

      data: {"id":"c4","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" you"}}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}

      data: {"id":"c4","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}

      data: [DONE]

      """;

  @Test
  void usageInAChunkWithChoicesIsReadAndTheChunkForwardedWhole() {
    for (boolean hide : new boolean[] {true, false}) {
      SseUsageTracker tracker = new SseUsageTracker(Endpoint.OPENAI_CHAT, hide);
      assertThat(feed(tracker, USAGE_WITH_CHOICES_STREAM, 11)).as("the last choice is never withheld")
          .isEqualTo(USAGE_WITH_CHOICES_STREAM);
      assertThat(tracker.reportedUsage()).contains(new Usage(12, 2, 0, 0));
    }
  }

  @Test
  void groqUsageIsReadFromItsExtension() {
    SseUsageTracker tracker = new SseUsageTracker(Endpoint.OPENAI_CHAT, false);
    assertThat(feed(tracker, GROQ_STREAM, 17)).isEqualTo(GROQ_STREAM);
    assertThat(tracker.reportedUsage()).contains(new Usage(33, 4, 0, 0));
  }

  @Test
  void cumulativeUsageInEveryChunkCountsOnceAtItsLastFigure() {
    SseUsageTracker tracker = new SseUsageTracker(Endpoint.OPENAI_CHAT, true);
    String forwarded = feed(tracker, CUMULATIVE_STREAM, 9);
    assertThat(tracker.reportedUsage()).contains(new Usage(9, 2, 0, 0));
    assertThat(forwarded).contains("\" you\"").endsWith("data: [DONE]\n\n")
        .doesNotContain("\"choices\":[],");
  }

  @Test
  void aStreamWithoutUsageReportsNoneAndIsChargedOnTheEstimate() {
    String noUsage = USAGE_WITH_CHOICES_STREAM.replaceAll(",\"usage\":\\{[^}]*\\}", "");
    SseUsageTracker tracker = new SseUsageTracker(Endpoint.OPENAI_CHAT, true);
    assertThat(feed(tracker, noUsage, 5)).isEqualTo(noUsage);
    assertThat(tracker.reportedUsage()).isEmpty();
    // "Hi" + " you" = 6 characters -> 2 tokens
    assertThat(tracker.usageSoFar(50)).isEqualTo(new Usage(50, 2, 0, 0));
  }

  @Test
  void aUsageChunkWithoutAnyChoicesIsHiddenWhenTheSidecarAskedForIt() {
    String stream = OPENAI_STREAM.replace("\"choices\":[],\"usage\"", "\"usage\"");
    SseUsageTracker tracker = new SseUsageTracker(Endpoint.OPENAI_CHAT, true);
    assertThat(feed(tracker, stream, 8)).doesNotContain("usage").endsWith("data: [DONE]\n\n");
    assertThat(tracker.reportedUsage()).contains(new Usage(10, 7, 30, 0));
  }
}
