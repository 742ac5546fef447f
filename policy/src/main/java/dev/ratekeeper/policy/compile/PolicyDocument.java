package dev.ratekeeper.policy.compile;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Collectors;

/**
 * A RateLimitPolicy read from a YAML file, as {@code kubectl apply} would take it. Used by sidecars
 * started with {@code --policy-file} and by tests; the operator gets the same spec from the API server.
 */
public record PolicyDocument(PolicyId id, RateLimitPolicySpec spec) {
  public static final String API_VERSION = "ratekeeper.dev/v1alpha1";
  public static final String KIND = "RateLimitPolicy";

  private static final ObjectMapper YAML = strict(new ObjectMapper(new YAMLFactory()));

  /**
   * Reads files as strictly as the CRD schema: unknown fields, fractions where integers belong and
   * numbers where strings belong (money must be quoted) are errors, not silent conversions.
   */
  private static ObjectMapper strict(ObjectMapper mapper) {
    mapper.enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
        .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
        .disable(com.fasterxml.jackson.databind.MapperFeature.ALLOW_COERCION_OF_SCALARS);
    mapper.coercionConfigFor(com.fasterxml.jackson.databind.type.LogicalType.Textual)
        .setCoercion(com.fasterxml.jackson.databind.cfg.CoercionInputShape.Integer,
            com.fasterxml.jackson.databind.cfg.CoercionAction.Fail)
        .setCoercion(com.fasterxml.jackson.databind.cfg.CoercionInputShape.Float,
            com.fasterxml.jackson.databind.cfg.CoercionAction.Fail)
        .setCoercion(com.fasterxml.jackson.databind.cfg.CoercionInputShape.Boolean,
            com.fasterxml.jackson.databind.cfg.CoercionAction.Fail);
    return mapper;
  }

  /**
   * Builds the YAML parser and the spec's deserializers now, so that the first {@link #read} does not
   * pay for them: a starting sidecar calls it on another thread while it parses its flags and starts
   * its event loops. Safe to call from any thread, any number of times.
   */
  public static void prepare() {
    try {
      YAML.readTree("kind: " + KIND);
      YAML.canDeserialize(YAML.constructType(RateLimitPolicySpec.class));
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  public static PolicyDocument read(Path file) throws IOException {
    return parse(Files.readString(file));
  }

  /** Parses one RateLimitPolicy document; a missing namespace means {@code default}. */
  public static PolicyDocument parse(String yaml) throws IOException {
    JsonNode root = YAML.readTree(yaml);
    if (root == null || !root.isObject()) {
      throw new PolicyFormatException("not a YAML object");
    }
    String apiVersion = root.path("apiVersion").asText(null);
    String kind = root.path("kind").asText(null);
    if (!API_VERSION.equals(apiVersion) || !KIND.equals(kind)) {
      throw new PolicyFormatException("expected apiVersion " + API_VERSION + " and kind " + KIND + ", got "
          + apiVersion + " " + kind);
    }
    String name = root.path("metadata").path("name").asText(null);
    if (name == null || name.isBlank()) {
      throw new PolicyFormatException("metadata.name: is required");
    }
    String namespace = root.path("metadata").path("namespace").asText("default");
    try {
      RateLimitPolicySpec spec = YAML.treeToValue(root.path("spec"), RateLimitPolicySpec.class);
      return new PolicyDocument(new PolicyId(namespace, name), spec);
    } catch (JsonMappingException e) {
      throw new PolicyFormatException(describe(e));
    }
  }

  private static String describe(JsonMappingException e) {
    String path = "spec" + e.getPath().stream()
        .map(ref -> ref.getFieldName() != null ? "." + ref.getFieldName() : "[" + ref.getIndex() + "]")
        .collect(Collectors.joining());
    if (e instanceof UnrecognizedPropertyException u) {
      return path + ": unknown field \"" + u.getPropertyName() + "\"";
    }
    if (e instanceof InvalidFormatException f) {
      return path + ": invalid value \"" + f.getValue() + "\"";
    }
    if (e instanceof MismatchedInputException) {
      return path + ": wrong type (" + e.getOriginalMessage().split("\n")[0] + ")";
    }
    return path + ": invalid value (" + e.getOriginalMessage().split("\n")[0] + ")";
  }

  /** The file is not a RateLimitPolicy document at all, or a field has the wrong type. */
  public static final class PolicyFormatException extends IOException {
    public PolicyFormatException(String message) {
      super(message);
    }
  }
}
