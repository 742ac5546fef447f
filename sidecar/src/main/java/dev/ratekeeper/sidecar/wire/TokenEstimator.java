package dev.ratekeeper.sidecar.wire;

import com.fasterxml.jackson.databind.JsonNode;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingRegistry;
import com.knuddels.jtokkit.api.EncodingType;
import dev.ratekeeper.policy.api.UpstreamFormat;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Estimates the input tokens of a request before it is sent, for the reservation. The provider's
 * reported usage replaces the estimate afterwards, so the estimate only needs to be a fair bound.
 *
 * <ul>
 *   <li>Text (every string in the body outside media blocks: messages, system, tools, ...):
 *       OpenAI models are counted with jtokkit ({@code o200k_base} for gpt-4o, gpt-4.1, gpt-5 and o-series,
 *       {@code cl100k_base} for gpt-4 and gpt-3.5), in pieces of at most {@value #TOKENIZER_PIECE}
 *       characters (a cut adds at most one token; without it one long word costs time quadratic in
 *       its length); Anthropic models at one token per {@value #ANTHROPIC_CHARS_PER_TOKEN} characters,
 *       rounded up (Claude averages about 3.5 characters per token on English; 3 errs on the side of
 *       reserving enough).</li>
 *   <li>OpenAI text over {@value #TOKENIZER_MAX_CHARS} characters in all is not tokenized: it is
 *       estimated by characters, one token per {@value #ANTHROPIC_CHARS_PER_TOKEN} ASCII characters
 *       (rounded up) plus one per other character, so the work stays linear and small.</li>
 *   <li>Each image block: {@value #IMAGE_TOKENS} tokens (Anthropic's cap for an image of about
 *       1.15 megapixels; an OpenAI high-detail 1024×1024 image is 765); each document or file
 *       block: {@value #DOCUMENT_TOKENS} tokens; each audio block: {@value #AUDIO_TOKENS}. Base64
 *       payloads are never counted as text.</li>
 *   <li>Per message framing: {@value #PER_MESSAGE_TOKENS} tokens.</li>
 * </ul>
 * The body is walked iteratively (no recursion on client-controlled nesting).
 */
public final class TokenEstimator {
  static final int ANTHROPIC_CHARS_PER_TOKEN = 3;
  static final int IMAGE_TOKENS = 1_600;
  static final int DOCUMENT_TOKENS = 4_000;
  static final int AUDIO_TOKENS = 2_000;
  static final int PER_MESSAGE_TOKENS = 4;
  /** OpenAI text longer than this (in all) is estimated by characters instead of tokenized. */
  public static final int TOKENIZER_MAX_CHARS = 200_000;
  static final int TOKENIZER_PIECE = 512;

  private static final Set<String> IMAGE_TYPES = Set.of("image", "image_url", "input_image");
  private static final Set<String> DOCUMENT_TYPES = Set.of("document", "file", "input_file");
  private static final Set<String> AUDIO_TYPES = Set.of("input_audio", "audio");

  private static final EncodingRegistry REGISTRY = Encodings.newLazyEncodingRegistry();

  private TokenEstimator() {}

  /** Estimated input tokens of a parsed request body. */
  public static long estimateInput(UpstreamFormat format, String model, JsonNode body) {
    Tally tally = walk(body);
    long textTokens;
    if (format.openAiWire()) {
      textTokens = tally.text.length() <= TOKENIZER_MAX_CHARS ? tokenize(encodingFor(model), tally.text)
          : byCharacters(tally.text);
    } else {
      textTokens = (tally.text.length() + ANTHROPIC_CHARS_PER_TOKEN - 1) / ANTHROPIC_CHARS_PER_TOKEN;
    }
    return textTokens + tally.mediaTokens + (long) tally.messages * PER_MESSAGE_TOKENS;
  }

  private static long tokenize(Encoding encoding, CharSequence text) {
    long tokens = 0;
    for (int from = 0; from < text.length(); from += TOKENIZER_PIECE) {
      tokens += encoding.countTokensOrdinary(text.subSequence(from, Math.min(text.length(), from + TOKENIZER_PIECE))
          .toString());
    }
    return tokens;
  }

  static long byCharacters(CharSequence text) {
    long ascii = 0;
    long other = 0;
    for (int i = 0; i < text.length(); i++) {
      if (text.charAt(i) < 0x80) {
        ascii++;
      } else {
        other++;
      }
    }
    return (ascii + ANTHROPIC_CHARS_PER_TOKEN - 1) / ANTHROPIC_CHARS_PER_TOKEN + other;
  }

  static Encoding encodingFor(String model) {
    String m = model == null ? "" : model.toLowerCase();
    boolean legacy = m.startsWith("gpt-4") && !m.startsWith("gpt-4o") && !m.startsWith("gpt-4.1")
        || m.startsWith("gpt-3.5") || m.startsWith("text-embedding-3") || m.startsWith("text-embedding-ada");
    return REGISTRY.getEncoding(legacy ? EncodingType.CL100K_BASE : EncodingType.O200K_BASE);
  }

  private record Visit(JsonNode node, boolean top) {}

  /** Depth-first, in document order, with an explicit stack. */
  private static Tally walk(JsonNode root) {
    Tally tally = new Tally();
    Deque<Visit> stack = new ArrayDeque<>();
    stack.push(new Visit(root, true));
    while (!stack.isEmpty()) {
      Visit visit = stack.pop();
      JsonNode node = visit.node();
      if (node.isTextual()) {
        tally.text.append(node.textValue()).append('\n');
      } else if (node.isArray()) {
        for (int i = node.size() - 1; i >= 0; i--) {
          stack.push(new Visit(node.get(i), false));
        }
      } else if (node.isObject()) {
        String type = node.path("type").asText("");
        if (IMAGE_TYPES.contains(type)) {
          tally.mediaTokens += IMAGE_TOKENS;
        } else if (DOCUMENT_TYPES.contains(type)) {
          tally.mediaTokens += DOCUMENT_TOKENS;
        } else if (AUDIO_TYPES.contains(type)) {
          tally.mediaTokens += AUDIO_TOKENS;
        } else {
          if (node.has("role")) {
            tally.messages++;
          }
          List<Map.Entry<String, JsonNode>> fields = new ArrayList<>(node.size());
          node.fields().forEachRemaining(fields::add);
          for (int i = fields.size() - 1; i >= 0; i--) {
            String key = fields.get(i).getKey();
            // request settings are not prompt text
            if (visit.top() && (key.equals("model") || key.equals("metadata") || key.equals("user"))) {
              continue;
            }
            stack.push(new Visit(fields.get(i).getValue(), false));
          }
        }
      }
    }
    return tally;
  }

  private static final class Tally {
    final StringBuilder text = new StringBuilder();
    long mediaTokens;
    int messages;
  }
}
