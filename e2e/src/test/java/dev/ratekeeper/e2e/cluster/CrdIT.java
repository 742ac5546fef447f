package dev.ratekeeper.e2e.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.StatusCause;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceList;
import io.fabric8.kubernetes.client.dsl.FieldValidateable;
import io.fabric8.kubernetes.client.dsl.NonNamespaceOperation;
import io.fabric8.kubernetes.client.dsl.Resource;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The checked-in CRD on a real API server: accepted and established, every CEL rule refusing its
 * fixture with the rule's own message on the rule's field, the examples accepted, unknown fields
 * refused under strict field validation and pruned otherwise.
 */
class CrdIT {
  static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  static final String NS = "crd-checks";
  static final String VALID = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: agents}
      spec:
        defaultTier: free
        tiers:
        - name: free
          requests: {perMinute: 10, burst: 5}
        - name: premium
          requests: {perMinute: 100}
        users:
        - {id: alice, tier: premium}
        models:
        - name: claude-sonnet-4-6
          pricing: {inputPerMillion: "3.00", outputPerMillion: "15.00"}
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;

  static KubernetesClient client;

  @BeforeAll
  static void crd() {
    ControlPlane plane = ControlPlane.shared();
    client = plane.admin();
    plane.installCrd();
    plane.namespace(NS);
  }

  @Test
  void theCrdIsEstablishedWithStructuralSchema() {
    var crd = client.apiextensions().v1().customResourceDefinitions().withName(ControlPlane.CRD_NAME).get();
    assertThat(crd.getStatus().getConditions())
        .anySatisfy(c -> assertThat(c.getType() + "=" + c.getStatus()).isEqualTo("Established=True"))
        .anySatisfy(c -> assertThat(c.getType() + "=" + c.getStatus()).isEqualTo("NamesAccepted=True"))
        .noneSatisfy(c -> assertThat(c.getType()).isEqualTo("NonStructuralSchema"));
    assertThat(crd.getStatus().getAcceptedNames().getShortNames()).containsExactly("rlp");
    assertThat(crd.getStatus().getAcceptedNames().getCategories()).containsExactly("ratekeeper");
    var conditions = crd.getSpec().getVersions().get(0).getSchema().getOpenAPIV3Schema().getProperties().get("status")
        .getProperties().get("conditions");
    assertThat(conditions.getXKubernetesListType()).isEqualTo("map");
    assertThat(conditions.getXKubernetesListMapKeys()).containsExactly("type");
  }

  @Test
  void aValidPolicyIsStored() throws IOException {
    GenericKubernetesResource stored = policies().resource(document(VALID, spec -> {})).create();
    try {
      assertThat(stored.getMetadata().getGeneration()).isEqualTo(1L);
    } finally {
      policies().withName("agents").delete();
    }
  }

  /** Every CEL rule of the CRD, by message, with a spec that breaks it. */
  static Stream<Arguments> celRules() {
    return Stream.of(
        Arguments.of("defaultTier must name one of spec.tiers", "spec.defaultTier",
            (Consumer<ObjectNode>) spec -> spec.put("defaultTier", "gold")),
        Arguments.of("tier names must be unique", "spec.tiers",
            (Consumer<ObjectNode>) spec -> ((ObjectNode) spec.withArray("tiers").get(1)).put("name", "free")),
        Arguments.of("every users[].tier must name one of spec.tiers", "spec.users",
            (Consumer<ObjectNode>) spec -> ((ObjectNode) spec.withArray("users").get(0)).put("tier", "gold")),
        Arguments.of("model names must be unique", "spec.models",
            (Consumer<ObjectNode>) spec -> spec.withArray("models").add(spec.withArray("models").get(0).deepCopy())),
        Arguments.of("upstream names must be unique", "spec.upstreams",
            (Consumer<ObjectNode>) spec -> spec.withArray("upstreams").addObject().put("name", "anthropic")
                .put("url", "https://other.example").put("format", "anthropic")));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("celRules")
  void eachCelRuleRefusesItsFixtureWithItsMessage(String message, String field, Consumer<ObjectNode> breakIt)
      throws IOException {
    GenericKubernetesResource policy = document(VALID, breakIt);

    assertThatThrownBy(() -> policies().resource(policy).create())
        .isInstanceOfSatisfying(KubernetesClientException.class, e -> {
          assertThat(e.getCode()).isEqualTo(422);
          assertThat(e.getStatus().getDetails().getCauses()).extracting(StatusCause::getField, StatusCause::getMessage)
              .anySatisfy(cause -> {
                assertThat(cause.toList().get(0)).isEqualTo(field);
                assertThat((String) cause.toList().get(1)).contains(message);
              });
        });
  }

  @Test
  void everyCelRuleOfTheCrdHasAFixture() throws IOException {
    List<String> messages = new ArrayList<>();
    collectRuleMessages(YAML.readTree(ControlPlane.CRD_FILE.toFile()), messages);

    assertThat(messages).containsExactlyInAnyOrderElementsOf(
        celRules().map(a -> (String) a.get()[0]).toList());
  }

  @Test
  void schemaTypesAndBoundsAreEnforcedByTheServer() throws IOException {
    GenericKubernetesResource policy = document(VALID, spec -> {
      ((ObjectNode) spec.withArray("tiers").get(0)).with("requests").put("burst", 0);
      spec.put("mode", "Enforcing");
    });

    assertThatThrownBy(() -> policies().resource(policy).create())
        .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getStatus().getDetails().getCauses())
            .extracting(StatusCause::getField)
            .contains("spec.tiers[0].requests.burst", "spec.mode"));
  }

  @Test
  void theExamplesAreAccepted() throws IOException {
    List<Path> examples = new ArrayList<>();
    try (Stream<Path> files = Files.list(ControlPlane.ROOT.resolve("examples"))) {
      files.filter(f -> f.toString().endsWith(".yaml")).sorted().forEach(examples::add);
    }
    int policies = 0;
    for (Path example : examples) {
      for (JsonNode doc : YAML.readValues(YAML.createParser(example.toFile()), JsonNode.class).readAll()) {
        if (!"RateLimitPolicy".equals(doc.path("kind").asText())) {
          continue;
        }
        GenericKubernetesResource policy = client.getKubernetesSerialization().convertValue(doc,
            GenericKubernetesResource.class);
        policy.getMetadata().setNamespace(NS);
        // dry run: validated and admitted exactly like a real create, nothing stored
        GenericKubernetesResource answered = policies().resource(policy).dryRun().create();
        assertThat(answered.getMetadata().getName()).as(example.toString()).isEqualTo(policy.getMetadata().getName());
        policies++;
      }
    }
    assertThat(policies).as("RateLimitPolicies in examples/").isGreaterThanOrEqualTo(2);
  }

  @Test
  void unknownFieldsAreRefusedUnderStrictFieldValidation() throws IOException {
    GenericKubernetesResource policy = document(VALID,
        spec -> ((ObjectNode) spec.withArray("tiers").get(0)).with("requests").put("burts", 5));

    assertThatThrownBy(() -> policies().resource(policy).fieldValidation(FieldValidateable.Validation.STRICT).create())
        .isInstanceOfSatisfying(KubernetesClientException.class, e -> {
          assertThat(e.getCode()).isEqualTo(400);
          assertThat(e.getMessage()).contains("unknown field \"spec.tiers[0].requests.burts\"");
        });
  }

  @Test
  void unknownFieldsArePrunedWithoutStrictFieldValidation() throws IOException {
    GenericKubernetesResource policy = document(VALID, spec -> {
      ((ObjectNode) spec.withArray("tiers").get(0)).with("requests").put("burts", 5);
      spec.put("colour", "blue");
    });
    policy.getMetadata().setName("pruned");

    GenericKubernetesResource stored = policies().resource(policy).fieldValidation(FieldValidateable.Validation.IGNORE)
        .create();
    try {
      JsonNode spec = client.getKubernetesSerialization().convertValue(stored.getAdditionalProperties().get("spec"),
          JsonNode.class);
      assertThat(spec.has("colour")).isFalse();
      assertThat(spec.path("tiers").get(0).path("requests").has("burts")).isFalse();
      assertThat(spec.path("tiers").get(0).path("requests").path("burst").asInt()).isEqualTo(5);
    } finally {
      policies().withName("pruned").delete();
    }
  }

  private static void collectRuleMessages(JsonNode node, List<String> messages) {
    if (node.isObject()) {
      node.path("x-kubernetes-validations").forEach(rule -> messages.add(rule.path("message").asText()));
      node.forEach(child -> collectRuleMessages(child, messages));
    } else if (node.isArray()) {
      node.forEach(child -> collectRuleMessages(child, messages));
    }
  }

  private static NonNamespaceOperation<GenericKubernetesResource, GenericKubernetesResourceList,
      Resource<GenericKubernetesResource>> policies() {
    return client.genericKubernetesResources(ControlPlane.POLICIES).inNamespace(NS);
  }

  private static GenericKubernetesResource document(String yaml, Consumer<ObjectNode> editSpec) throws IOException {
    ObjectNode doc = (ObjectNode) YAML.readTree(yaml);
    editSpec.accept((ObjectNode) doc.get("spec"));
    ((ObjectNode) doc.get("metadata")).put("namespace", NS);
    return client.getKubernetesSerialization().convertValue(doc, GenericKubernetesResource.class);
  }
}
