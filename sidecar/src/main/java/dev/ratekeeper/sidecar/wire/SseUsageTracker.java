package dev.ratekeeper.sidecar.wire;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * Watches a server-sent-event stream as it is forwarded, chunk by chunk, and learns the usage the
 * provider reports (Anthropic {@code message_start} + {@code message_delta}; OpenAI's usage chunk or
 * {@code response.completed}). OpenAI-compatible servers vary: usage may come in the last chunk that
 * also carries choices (then the chunk is forwarded whole), in every chunk, cumulative (the last
 * one counts), in Groq's {@code x_groq.usage}, or not at all (the call is then charged its input
 * estimate and output cap, {@link #usageAtEnd}). It also counts the output text forwarded so far
 * (answer, tool-call arguments, a reasoning model's thinking), for charging a client that disconnects
 * before the provider's figure arrives.
 *
 * <p>Chunks pass through untouched unless the sidecar injected {@code stream_options.include_usage};
 * then only complete events are passed on and the usage-only chunk is withheld from the client.
 * Nothing is ever held back longer than the end of the event it belongs to.
 */
public final class SseUsageTracker implements AnswerUsage {
  /** Output characters per estimated token when charging a stream cut short (errs toward charging). */
  static final int CHARS_PER_OUTPUT_TOKEN = 3;

  private static final ObjectMapper JSON = new ObjectMapper();

  private final Endpoint endpoint;
  private final boolean hideUsageChunk;
  private final ByteArrayOutputStream pending = new ByteArrayOutputStream();
  private long input;
  private long output;
  private long cacheRead;
  private long cacheWrite;
  private boolean usageSeen;
  private long outputChars;

  public SseUsageTracker(Endpoint endpoint, boolean hideUsageChunk) {
    this.endpoint = endpoint;
    this.hideUsageChunk = hideUsageChunk;
  }

  /** Observes one chunk and returns the bytes to forward now. */
  public byte[] accept(byte[] chunk) {
    pending.write(chunk, 0, chunk.length);
    byte[] all = pending.toByteArray();
    int start = 0;
    ByteArrayOutputStream out = hideUsageChunk ? new ByteArrayOutputStream(all.length) : null;
    int end;
    while ((end = eventEnd(all, start)) >= 0) {
      String event = new String(all, start, end - start, StandardCharsets.UTF_8);
      int next = skipTerminator(all, end);
      boolean keep = onEvent(event);
      if (out != null && keep) {
        out.write(all, start, next - start);
      }
      start = next;
    }
    pending.reset();
    pending.write(all, start, all.length - start);
    return out == null ? chunk : out.toByteArray();
  }

  /** What is left when the stream ends: an unterminated last event, passed on as is. */
  public byte[] finish() {
    byte[] rest = pending.toByteArray();
    pending.reset();
    if (rest.length > 0) {
      onEvent(new String(rest, StandardCharsets.UTF_8));
    }
    return hideUsageChunk ? rest : new byte[0];
  }

  /** The usage the provider reported, if it did. */
  public Optional<Usage> reportedUsage() {
    return usageSeen ? Optional.of(new Usage(input, output, cacheRead, cacheWrite)) : Optional.empty();
  }

  /** Output tokens estimated from the text forwarded so far. */
  public long estimatedOutputTokens() {
    return (outputChars + CHARS_PER_OUTPUT_TOKEN - 1) / CHARS_PER_OUTPUT_TOKEN;
  }

  /**
   * What to charge when the stream stops early: the provider's figure when it had one (with the
   * output at least what was forwarded), else {@code inputEstimate} plus the forwarded output.
   */
  public Usage usageSoFar(long inputEstimate) {
    if (usageSeen) {
      return new Usage(input, Math.max(output, estimatedOutputTokens()), cacheRead, cacheWrite);
    }
    return new Usage(inputEstimate, estimatedOutputTokens(), 0, 0);
  }

  /**
   * What to charge when the stream ended without the provider's usage: its figure if it sent one,
   * else {@code inputEstimate} plus the output cap, as a JSON answer without usage is charged (the
   * visible text says nothing of hidden reasoning tokens), or the forwarded text if that is more.
   */
  public Usage usageAtEnd(long inputEstimate, long outputCap) {
    return reportedUsage().orElseGet(() -> new Usage(inputEstimate, Math.max(outputCap, estimatedOutputTokens()), 0, 0));
  }

  @Override
  public boolean reported() {
    return usageSeen;
  }

  @Override
  public Usage soFar(long inputEstimate) {
    return usageSoFar(inputEstimate);
  }

  @Override
  public Usage atEnd(long inputEstimate, long outputCap) {
    return usageAtEnd(inputEstimate, outputCap);
  }

  private boolean onEvent(String event) {
    StringBuilder data = new StringBuilder();
    for (String line : event.split("\r?\n")) {
      if (line.startsWith("data:")) {
        if (data.length() > 0) {
          data.append('\n');
        }
        data.append(line.startsWith("data: ") ? line.substring(6) : line.substring(5));
      }
    }
    if (data.length() == 0 || data.charAt(0) != '{') {
      return true;
    }
    JsonNode node;
    try {
      node = JSON.readTree(data.toString());
    } catch (IOException e) {
      return true;
    }
    return switch (endpoint) {
      case ANTHROPIC_MESSAGES -> onAnthropic(node);
      case OPENAI_RESPONSES -> onResponses(node);
      default -> onOpenAiChunk(node);
    };
  }

  private boolean onAnthropic(JsonNode node) {
    switch (node.path("type").asText()) {
      case "message_start" -> {
        JsonNode usage = node.path("message").path("usage");
        if (usage.isObject()) {
          usageSeen = true;
          input = usage.path("input_tokens").asLong(input);
          cacheRead = usage.path("cache_read_input_tokens").asLong(cacheRead);
          cacheWrite = usage.path("cache_creation_input_tokens").asLong(cacheWrite);
          output = Math.max(output, usage.path("output_tokens").asLong(0));
        }
      }
      case "message_delta" -> {
        JsonNode usage = node.path("usage");
        if (usage.isObject()) {
          usageSeen = true;
          // message_delta usage is cumulative; newer API versions repeat the input figures too
          output = usage.path("output_tokens").asLong(output);
          input = usage.path("input_tokens").asLong(input);
          cacheRead = usage.path("cache_read_input_tokens").asLong(cacheRead);
          cacheWrite = usage.path("cache_creation_input_tokens").asLong(cacheWrite);
        }
      }
      case "content_block_delta" -> {
        JsonNode delta = node.path("delta");
        outputChars += delta.path("text").asText("").length() + delta.path("thinking").asText("").length()
            + delta.path("partial_json").asText("").length();
      }
      default -> { }
    }
    return true;
  }

  private boolean onResponses(JsonNode node) {
    String type = node.path("type").asText();
    if (type.endsWith(".delta")) {
      outputChars += node.path("delta").asText("").length();
    } else if (type.equals("response.completed") || type.equals("response.incomplete")
        || type.equals("response.failed")) {
      UsageReader.fromNode(endpoint, node.path("response").get("usage")).ifPresent(this::take);
    }
    return true;
  }

  private boolean onOpenAiChunk(JsonNode node) {
    for (JsonNode choice : node.path("choices")) {
      JsonNode delta = choice.path("delta");
      // reasoning models on compatible servers stream their thinking beside the answer, billed as
      // output: reasoning_content (vLLM, DeepSeek) or reasoning (Groq, Together, OpenRouter)
      outputChars += delta.path("content").asText("").length() + delta.path("reasoning_content").asText("").length()
          + delta.path("reasoning").asText("").length() + choice.path("text").asText("").length();
      for (JsonNode call : choice.path("delta").path("tool_calls")) {
        outputChars += call.path("function").path("arguments").asText("").length();
      }
    }
    JsonNode usage = node.get("usage");
    if (usage != null && usage.isObject()) {
      UsageReader.fromNode(endpoint, usage).ifPresent(this::take);
      // a usage-only chunk: empty choices (OpenAI), or none at all (some compatible servers)
      JsonNode choices = node.path("choices");
      boolean usageOnly = !choices.isArray() || choices.isEmpty();
      return !(hideUsageChunk && usageOnly);
    }
    // Groq reports a stream's usage in its own extension of the last chunk
    JsonNode groq = node.path("x_groq").get("usage");
    if (groq != null && groq.isObject()) {
      UsageReader.fromNode(endpoint, groq).ifPresent(this::take);
    }
    return true;
  }

  private void take(Usage usage) {
    usageSeen = true;
    input = usage.input();
    output = usage.output();
    cacheRead = usage.cacheRead();
    cacheWrite = usage.cacheWrite();
  }

  /** Index where the event starting at {@code from} ends (before its blank line), or -1. */
  private static int eventEnd(byte[] b, int from) {
    for (int i = from; i < b.length - 1; i++) {
      if (b[i] == '\n' && b[i + 1] == '\n') {
        return i;
      }
      if (b[i] == '\r' && i + 3 < b.length && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n') {
        return i;
      }
    }
    return -1;
  }

  private static int skipTerminator(byte[] b, int end) {
    return b[end] == '\r' ? end + 4 : end + 2;
  }
}
