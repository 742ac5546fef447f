package dev.ratekeeper.sidecar.wire;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.Optional;

/** Reads the {@code usage} a provider reported in a whole JSON response. */
public final class UsageReader {
  private static final ObjectMapper JSON = new ObjectMapper();

  private UsageReader() {}

  /**
   * The top-level {@code usage} of a whole JSON response (the last one, should there be several),
   * read as it streams: the rest of the answer (its content) is checked for well-formedness and
   * skipped, never built into objects. Empty when the body is not a JSON object or not well-formed.
   */
  public static Optional<Usage> fromJson(Endpoint endpoint, byte[] body) {
    try (JsonParser parser = JSON.getFactory().createParser(body)) {
      if (parser.nextToken() != JsonToken.START_OBJECT) {
        return Optional.empty();
      }
      JsonNode usage = null;
      while (parser.nextToken() == JsonToken.FIELD_NAME) {
        boolean isUsage = "usage".equals(parser.currentName());
        parser.nextToken();
        if (isUsage) {
          usage = JSON.readTree(parser);
        } else {
          parser.skipChildren();
        }
      }
      return fromNode(endpoint, usage);
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  /**
   * Reads {@code usage} from the last bytes of a JSON response too large to keep whole (a big
   * embeddings batch): finds the last {@code "usage"} member and parses the object after it.
   */
  public static Optional<Usage> fromJsonTail(Endpoint endpoint, byte[] tail) {
    String text = new String(tail, java.nio.charset.StandardCharsets.UTF_8);
    int at = text.lastIndexOf("\"usage\"");
    int open = at < 0 ? -1 : text.indexOf('{', at);
    if (open < 0) {
      return Optional.empty();
    }
    int depth = 0;
    for (int i = open; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == '{') {
        depth++;
      } else if (c == '}' && --depth == 0) {
        try {
          return fromNode(endpoint, JSON.readTree(text.substring(open, i + 1)));
        } catch (IOException e) {
          return Optional.empty();
        }
      }
    }
    return Optional.empty();
  }

  /** Normalizes one {@code usage} object of {@code endpoint}'s format. */
  static Optional<Usage> fromNode(Endpoint endpoint, JsonNode usage) {
    if (usage == null || !usage.isObject() || endpoint.batch()) {
      // a batch's usage is in its results, read later by the client, not in this answer
      return Optional.empty();
    }
    return Optional.of(switch (endpoint) {
      case ANTHROPIC_MESSAGES, ANTHROPIC_MESSAGE_BATCHES -> new Usage(
          usage.path("input_tokens").asLong(0),
          usage.path("output_tokens").asLong(0),
          usage.path("cache_read_input_tokens").asLong(0),
          usage.path("cache_creation_input_tokens").asLong(0));
      case OPENAI_RESPONSES -> {
        long input = usage.path("input_tokens").asLong(0);
        long cached = usage.path("input_tokens_details").path("cached_tokens").asLong(0);
        yield new Usage(Math.max(0, input - cached), usage.path("output_tokens").asLong(0), cached, 0);
      }
      case OPENAI_CHAT, OPENAI_COMPLETIONS, OPENAI_EMBEDDINGS -> {
        long prompt = usage.path("prompt_tokens").asLong(0);
        long cached = usage.path("prompt_tokens_details").path("cached_tokens").asLong(0);
        yield new Usage(Math.max(0, prompt - cached), usage.path("completion_tokens").asLong(0), cached, 0);
      }
    });
  }
}
