package dev.ratekeeper.sidecar.wire;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;

/** Parses a metered call's body once and reads what admission needs. Bad input is a value, not an exception. */
public final class RequestParser {
  /** Strict about the whole body: anything after the object (a second object, stray bytes) is malformed JSON. */
  private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
  private static final String[] CAP_FIELDS = {"max_tokens", "max_completion_tokens", "max_output_tokens"};

  private RequestParser() {}

  /** Either a request or the 400 to answer. */
  public sealed interface Result permits Parsed, Invalid {}

  public record Parsed(MeteredRequest request) implements Result {}

  public record Invalid(ProviderError error) implements Result {}

  public static Result parse(Endpoint endpoint, byte[] bytes) {
    JsonNode root;
    try {
      root = JSON.readTree(bytes);
    } catch (JsonProcessingException e) {
      return invalid("request body is not valid JSON: " + e.getOriginalMessage());
    } catch (IOException e) {
      return invalid("request body could not be read: " + e.getMessage());
    }
    if (!(root instanceof ObjectNode body)) {
      return invalid("request body must be a JSON object");
    }
    JsonNode model = body.get("model");
    if (model == null || !model.isTextual() || model.textValue().isBlank()) {
      return invalid("model: field required (a non-empty string)");
    }
    String capField = null;
    Long cap = null;
    for (String field : CAP_FIELDS) {
      JsonNode value = body.get(field);
      if (value == null || value.isNull()) {
        continue;
      }
      if (!value.canConvertToLong() || !value.isIntegralNumber() || value.asLong() < 1) {
        return invalid(field + ": must be a positive integer");
      }
      if (capField == null) {
        capField = field;
        cap = value.asLong();
      } else {
        cap = Math.max(cap, value.asLong());
      }
    }
    JsonNode stream = body.get("stream");
    if (stream != null && !stream.isNull() && !stream.isBoolean()) {
      return invalid("stream: must be a boolean");
    }
    JsonNode options = body.get("stream_options");
    boolean askedUsage = options != null && options.path("include_usage").asBoolean(false);
    return new Parsed(new MeteredRequest(endpoint, body, model.textValue(), capField, cap,
        stream != null && stream.asBoolean(false), askedUsage));
  }

  private static Invalid invalid(String message) {
    return new Invalid(ProviderError.of(ProviderError.Kind.INVALID_REQUEST, message));
  }
}
