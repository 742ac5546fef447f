package dev.ratekeeper.operator.crd;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ratekeeper.policy.compile.PolicyDocument;
import dev.ratekeeper.policy.validation.PolicyValidator;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The generated openAPIV3Schema: documented everywhere, and strict enough to refuse bad policies at apply time. */
class CrdSchemaTest {
  private static final String VALID = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: agents, namespace: team-a}
      spec:
        mode: Enforce
        identity: {userHeader: X-End-User, apiKeySecretRef: {name: agent-keys}}
        tiers:
        - name: free
          requests: {perMinute: 10, burst: 5}
          tokens: {perMinute: 20000, maxPerRequest: 2000}
          budget: {usd: "1.00", period: Monthly}
          maxQueueWait: 500ms
        users:
        - {id: alice, tier: free}
        models:
        - name: claude-sonnet-4-6
          pricing: {inputPerMillion: "3.00", outputPerMillion: "15.00"}
        upstreams:
        - name: anthropic
          url: https://api.anthropic.com
          format: anthropic
          credentialsSecretRef: {name: anthropic-key, key: api-key}
      """;

  @Test
  void everyPropertyHasADescription() {
    List<String> undocumented = new ArrayList<>();
    int properties = walk("", Crds.openApiSchema(), undocumented);

    assertThat(properties).as("properties walked").isGreaterThan(80);
    assertThat(undocumented).as("schema properties without a description (add @JsonPropertyDescription)").isEmpty();
  }

  @Test
  void descriptionWalkFindsAnUndocumentedPropertyDeepInLists() throws IOException {
    JsonNode schema = Crds.YAML.readTree("""
        properties:
          spec:
            description: documented
            properties:
              tiers:
                description: documented
                items:
                  properties:
                    name: {description: documented, type: string}
                    burst: {type: integer}
        """);
    List<String> undocumented = new ArrayList<>();

    assertThat(walk("", schema, undocumented)).isEqualTo(4);
    assertThat(undocumented).containsExactly("spec.tiers[].burst");
  }

  /** Counts the properties below {@code schema}, collecting the paths of those without a description. */
  private static int walk(String path, JsonNode schema, List<String> undocumented) {
    int count = 0;
    for (Map.Entry<String, JsonNode> property : schema.path("properties").properties()) {
      String at = path.isEmpty() ? property.getKey() : path + "." + property.getKey();
      if (property.getValue().path("description").asText("").isBlank()) {
        undocumented.add(at);
      }
      count += 1 + walk(at, property.getValue(), undocumented);
    }
    JsonNode items = schema.path("items");
    if (items.isObject()) {
      count += walk(path + "[]", items, undocumented);
    }
    return count;
  }

  @Test
  void aValidPolicyPassesTheSchema() throws IOException {
    assertThat(Crds.schemaViolations(Crds.YAML.readTree(VALID))).isEmpty();
  }

  static Stream<Arguments> schemaRefuses() {
    return Stream.<Map.Entry<String, Consumer<ObjectNode>>>of(
        Map.entry("burst 0", spec -> tier(spec).with("requests").put("burst", 0)),
        Map.entry("negative perHour", spec -> tier(spec).with("tokens").put("perHour", -1)),
        Map.entry("unknown mode", spec -> spec.put("mode", "Enforcing")),
        Map.entry("unknown unmeterable group", spec -> spec.putArray("allowUnmeterable").add("Videos")),
        Map.entry("unknown upstream format", spec -> ((ObjectNode) spec.get("upstreams").get(0)).put("format", "gemini")),
        Map.entry("unknown budget period", spec -> tier(spec).with("budget").put("period", "Yearly")),
        Map.entry("unknown field (typo)", spec -> tier(spec).with("requests").put("burts", 5)),
        Map.entry("no tiers", spec -> spec.remove("tiers")),
        Map.entry("empty tiers", spec -> spec.putArray("tiers")),
        Map.entry("tier name with capitals", spec -> tier(spec).put("name", "Free")),
        Map.entry("money with too many decimals", spec -> tier(spec).with("budget").put("usd", "1.0000001")),
        Map.entry("globalShare 0", spec -> tier(spec).put("globalShare", 0)),
        Map.entry("warnAtPercent 101", spec -> spec.with("budgets").put("warnAtPercent", 101)),
        Map.entry("duration without unit", spec -> tier(spec).put("maxQueueWait", "2")),
        Map.entry("header with a space", spec -> spec.with("identity").put("userHeader", "X End User")),
        Map.entry("Secret name with capitals", spec -> spec.with("identity").with("apiKeySecretRef").put("name", "Keys")),
        Map.entry("upstream url not http", spec -> ((ObjectNode) spec.get("upstreams").get(0)).put("url", "ftp://x")),
        Map.entry("user without tier", spec -> ((ObjectNode) spec.get("users").get(0)).remove("tier")),
        Map.entry("pricing without output price",
            spec -> ((ObjectNode) spec.get("models").get(0)).with("pricing").remove("outputPerMillion")))
        .map(e -> Arguments.of(e.getKey(), e.getValue()));
  }

  /**
   * The schema bites: each of these is refused at apply time. A policy read from a file skips the
   * schema, so the same mistake is also refused by PolicyDocument (types, enums, unknown fields)
   * or PolicyValidator (everything else).
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("schemaRefuses")
  void schemaAndFileValidationBothRefuse(String mistake, Consumer<ObjectNode> edit) throws IOException {
    JsonNode document = Crds.YAML.readTree(VALID);
    edit.accept((ObjectNode) document.get("spec"));

    assertThat(Crds.schemaViolations(document)).as("schema violations").isNotEmpty();
    assertThat(refusedFromFile(document)).as("refused when read from a file").isTrue();
  }

  /**
   * Scalars of the wrong type are refused by the schema only: Jackson, reading a policy file, turns
   * the number 1.5 into the string "1.5" (a valid amount) and 1.5 into the integer 1.
   */
  @Test
  void schemaRefusesScalarsOfTheWrongType() throws IOException {
    JsonNode document = Crds.YAML.readTree(VALID);
    tier((ObjectNode) document.get("spec")).with("budget").put("usd", 1.5);
    tier((ObjectNode) document.get("spec")).with("requests").put("perMinute", 1.5);

    assertThat(Crds.schemaViolations(document)).hasSize(2);
  }

  @Test
  void schemaViolationsNameTheField() throws IOException {
    JsonNode document = Crds.YAML.readTree(VALID);
    tier((ObjectNode) document.get("spec")).with("requests").put("burst", 0);
    ((ObjectNode) document.get("spec")).put("mode", "Enforcing");

    assertThat(Crds.schemaViolations(document)).hasSize(2)
        .anySatisfy(m -> assertThat(m).startsWith("$.spec.tiers[0].requests.burst: must have a minimum value of 1"))
        .anySatisfy(m -> assertThat(m).startsWith("$.spec.mode: does not have a value in the enumeration"));
  }

  private static boolean refusedFromFile(JsonNode document) throws IOException {
    try {
      PolicyDocument parsed = PolicyDocument.parse(Crds.YAML.writeValueAsString(document));
      return !PolicyValidator.validate(parsed.spec()).isEmpty();
    } catch (PolicyDocument.PolicyFormatException e) {
      return true;
    }
  }

  private static ObjectNode tier(ObjectNode spec) {
    return (ObjectNode) ((ArrayNode) spec.get("tiers")).get(0);
  }
}
