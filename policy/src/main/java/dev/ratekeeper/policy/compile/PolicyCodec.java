package dev.ratekeeper.policy.compile;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.UncheckedIOException;

/**
 * The compiled policy as JSON, the form stored in Redis. Canonical: properties and map keys
 * sorted, nulls kept, so equal policies serialize to equal bytes (the revision hash relies on it).
 */
public final class PolicyCodec {
  private static final ObjectMapper MAPPER = JsonMapper.builder()
      .enable(MapperFeature.SORT_PROPERTIES_ALPHABETICALLY)
      .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
      .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .serializationInclusion(JsonInclude.Include.ALWAYS)
      .build();

  private PolicyCodec() {}

  /**
   * Builds the compiled policy's serializer and deserializer now (see {@link PolicyDocument#prepare}),
   * so that the first {@link #toJson} or {@link #fromJson} does not pay for them.
   */
  public static void prepare() {
    MAPPER.canSerialize(CompiledPolicy.class);
    MAPPER.canDeserialize(MAPPER.constructType(CompiledPolicy.class));
  }

  public static String toJson(CompiledPolicy policy) {
    try {
      return MAPPER.writeValueAsString(policy);
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Reads a compiled policy. Fails with {@link UnsupportedSchemaException} when its
   * {@code schemaVersion} is not {@link CompiledPolicy#SCHEMA_VERSION}, before binding anything else.
   */
  public static CompiledPolicy fromJson(String json) {
    try {
      JsonNode tree = MAPPER.readTree(json);
      int version = tree.path("schemaVersion").asInt(-1);
      if (version != CompiledPolicy.SCHEMA_VERSION) {
        throw new UnsupportedSchemaException(version);
      }
      return MAPPER.treeToValue(tree, CompiledPolicy.class);
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e);
    }
  }

  static ObjectMapper mapper() {
    return MAPPER;
  }

  /** A compiled policy written by a newer (or older) Ratekeeper than this one. */
  public static final class UnsupportedSchemaException extends RuntimeException {
    private final int schemaVersion;

    public UnsupportedSchemaException(int schemaVersion) {
      super("compiled policy has schemaVersion " + schemaVersion + "; this build understands "
          + CompiledPolicy.SCHEMA_VERSION);
      this.schemaVersion = schemaVersion;
    }

    public int schemaVersion() {
      return schemaVersion;
    }
  }
}
