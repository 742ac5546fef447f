package dev.ratekeeper.sidecar.wire;

import com.fasterxml.jackson.databind.JsonNode;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingRegistry;
import com.knuddels.jtokkit.api.EncodingType;
import dev.ratekeeper.policy.api.UpstreamFormat;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/**
 * Estimates the input tokens of a request before it is sent, for the reservation. The provider's
 * reported usage replaces the estimate afterwards, so the estimate only needs to be a fair bound.
 *
 * <ul>
 *   <li>Text (every string in the body outside media blocks: messages, system, tools, ...):
 *       OpenAI models are counted with jtokkit ({@code o200k_base} for gpt-4o, gpt-4.1, gpt-5 and o-series,
 *       {@code cl100k_base} for gpt-4 and gpt-3.5); Anthropic models at one token per
 *       {@value #ANTHROPIC_CHARS_PER_TOKEN} characters, rounded up (Claude averages about 3.5
 *       characters per token on English; 3 errs on the side of reserving enough).</li>
 *   <li>Each image block: {@value #IMAGE_TOKENS} tokens (Anthropic's cap for an image of about
 *       1.15 megapixels; an OpenAI high-detail 1024×1024 image is 765); each document or file
 *       block: {@value #DOCUMENT_TOKENS} tokens; each audio block: {@value #AUDIO_TOKENS}. Base64
 *       payloads are never counted as text.</li>
 *   <li>Per message framing: {@value #PER_MESSAGE_TOKENS} tokens.</li>
 * </ul>
 */
public final class TokenEstimator {
  static final int ANTHROPIC_CHARS_PER_TOKEN = 3;
  static final int IMAGE_TOKENS = 1_600;
  static final int DOCUMENT_TOKENS = 4_000;
  static final int AUDIO_TOKENS = 2_000;
  static final int PER_MESSAGE_TOKENS = 4;

  private static final Set<String> IMAGE_TYPES = Set.of("image", "image_url", "input_image");
  private static final Set<String> DOCUMENT_TYPES = Set.of("document", "file", "input_file");
  private static final Set<String> AUDIO_TYPES = Set.of("input_audio", "audio");

  private static final EncodingRegistry REGISTRY = Encodings.newLazyEncodingRegistry();

  private TokenEstimator() {}

  /** Estimated input tokens of a parsed request body. */
  public static long estimateInput(UpstreamFormat format, String model, JsonNode body) {
    Tally tally = new Tally();
    walk(body, tally, true);
    long textTokens;
    if (format == UpstreamFormat.OPENAI) {
      textTokens = encodingFor(model).countTokensOrdinary(tally.text.toString());
    } else {
      textTokens = (tally.text.length() + ANTHROPIC_CHARS_PER_TOKEN - 1) / ANTHROPIC_CHARS_PER_TOKEN;
    }
    return textTokens + tally.mediaTokens + (long) tally.messages * PER_MESSAGE_TOKENS;
  }

  static Encoding encodingFor(String model) {
    String m = model == null ? "" : model.toLowerCase();
    boolean legacy = m.startsWith("gpt-4") && !m.startsWith("gpt-4o") && !m.startsWith("gpt-4.1")
        || m.startsWith("gpt-3.5") || m.startsWith("text-embedding-3") || m.startsWith("text-embedding-ada");
    return REGISTRY.getEncoding(legacy ? EncodingType.CL100K_BASE : EncodingType.O200K_BASE);
  }

  private static void walk(JsonNode node, Tally tally, boolean top) {
    if (node.isTextual()) {
      tally.text.append(node.textValue()).append('\n');
      return;
    }
    if (node.isArray()) {
      for (JsonNode item : node) {
        walk(item, tally, false);
      }
      return;
    }
    if (!node.isObject()) {
      return;
    }
    String type = node.path("type").asText("");
    if (IMAGE_TYPES.contains(type)) {
      tally.mediaTokens += IMAGE_TOKENS;
      return;
    }
    if (DOCUMENT_TYPES.contains(type)) {
      tally.mediaTokens += DOCUMENT_TOKENS;
      return;
    }
    if (AUDIO_TYPES.contains(type)) {
      tally.mediaTokens += AUDIO_TOKENS;
      return;
    }
    if (node.has("role")) {
      tally.messages++;
    }
    Iterator<Map.Entry<String, JsonNode>> fields = node.fields();
    while (fields.hasNext()) {
      Map.Entry<String, JsonNode> field = fields.next();
      // request settings are not prompt text
      if (top && (field.getKey().equals("model") || field.getKey().equals("metadata") || field.getKey().equals("user"))) {
        continue;
      }
      walk(field.getValue(), tally, false);
    }
  }

  private static final class Tally {
    final StringBuilder text = new StringBuilder();
    long mediaTokens;
    int messages;
  }
}
