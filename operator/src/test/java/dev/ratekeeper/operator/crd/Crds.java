package dev.ratekeeper.operator.crd;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import dev.ratekeeper.operator.api.RateLimitPolicy;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The RateLimitPolicy CRD as the build generates it (operator/target/classes/META-INF/fabric8), its
 * checked-in copy under crds/, and its openAPIV3Schema as a JSON schema a test can validate documents with.
 */
final class Crds {
  static final String FILE = RateLimitPolicy.CRD_NAME + "-v1.yml";
  static final String GENERATED_RESOURCE = "/META-INF/fabric8/" + FILE;
  static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  private static JsonSchema schema;

  private Crds() {}

  /** The repository root, passed by Surefire as {@code ratekeeper.root}. */
  static Path root() {
    String root = System.getProperty("ratekeeper.root");
    assertThat(root).as("system property ratekeeper.root (set by Surefire in the parent pom)").isNotBlank();
    return Path.of(root);
  }

  static Path checkedIn() {
    return root().resolve("crds").resolve(FILE);
  }

  static String generatedText() {
    try (InputStream in = Crds.class.getResourceAsStream(GENERATED_RESOURCE)) {
      assertThat(in).as("generated CRD %s on the classpath (CrdGeneration runs at process-classes)",
          GENERATED_RESOURCE).isNotNull();
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** {@code spec.versions[0].schema.openAPIV3Schema} of the generated CRD, as written. */
  static JsonNode openApiSchema() {
    try {
      JsonNode crd = YAML.readTree(generatedText());
      JsonNode versions = crd.path("spec").path("versions");
      assertThat(versions.size()).as("CRD versions").isEqualTo(1);
      JsonNode schema = versions.get(0).path("schema").path("openAPIV3Schema");
      assertThat(schema.isObject()).as("openAPIV3Schema present").isTrue();
      return schema;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The openAPIV3Schema as a JSON Schema (2020-12) that judges a whole document the way
   * {@code kubectl apply} (strict field validation) and the API server's schema check would:
   * {@code x-kubernetes-*} extensions dropped (CEL rules are not evaluated here), unknown fields
   * refused, and the fields every object has (apiVersion, kind, metadata) allowed at the top.
   */
  static synchronized JsonSchema validationSchema() {
    if (schema == null) {
      ObjectNode copy = openApiSchema().deepCopy();
      strict(copy);
      ObjectNode properties = (ObjectNode) copy.get("properties");
      properties.set("apiVersion", JsonNodeFactory.instance.objectNode().put("type", "string"));
      properties.set("kind", JsonNodeFactory.instance.objectNode().put("type", "string"));
      properties.set("metadata", JsonNodeFactory.instance.objectNode().put("type", "object"));
      copy.set("required", JsonNodeFactory.instance.arrayNode().add("apiVersion").add("kind").add("metadata"));
      schema = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012).getSchema(copy);
    }
    return schema;
  }

  /** Every schema violation of {@code document}, as {@code $.spec.tiers[0].requests.burst: ...} lines. */
  static List<String> schemaViolations(JsonNode document) {
    return validationSchema().validate(document).stream().map(ValidationMessage::getMessage).sorted().toList();
  }

  private static void strict(JsonNode node) {
    if (node instanceof ObjectNode object) {
      boolean preserveUnknown = object.path("x-kubernetes-preserve-unknown-fields").asBoolean(false);
      object.properties().removeIf(e -> e.getKey().startsWith("x-kubernetes-"));
      if (object.has("properties") && object.path("properties").isObject() && !preserveUnknown
          && !object.has("additionalProperties")) {
        object.put("additionalProperties", false);
      }
      for (Map.Entry<String, JsonNode> field : object.properties()) {
        if (field.getKey().equals("properties")) {
          field.getValue().forEach(Crds::strict);
        } else {
          strict(field.getValue());
        }
      }
    } else if (node != null && node.isArray()) {
      node.forEach(Crds::strict);
    }
  }
}
