package dev.ratekeeper.policy.validation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.ratekeeper.policy.compile.PolicyCodec;
import dev.ratekeeper.policy.compile.PolicyCompiler;
import dev.ratekeeper.policy.compile.PolicyDocument;
import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The compiler trusts a spec the validator passed. Thousands of seeded random edits of a valid policy
 * (nulls, zeros, negatives, empty strings and lists, odd text, huge numbers) either fail to parse,
 * or are refused by the validator, or compile, round-trip through the codec, and never throw.
 */
class ValidatorCoversCompilerTest {
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
  private static final int RUNS = 3000;

  @Test
  void noEditOfAValidPolicyMakesValidateOrCompileThrow() throws Exception {
    JsonNode valid = YAML.readTree(Files.readString(PolicyValidatorTest.resource("valid").resolve("everything.yaml")));
    Random random = new Random(20261123L);
    int refused = 0;
    int compiled = 0;
    for (int run = 0; run < RUNS; run++) {
      ObjectNode doc = valid.deepCopy();
      int edits = 1 + random.nextInt(3);
      for (int e = 0; e < edits; e++) {
        edit(doc.get("spec"), random);
      }
      PolicyDocument parsed;
      try {
        parsed = PolicyDocument.parse(YAML.writeValueAsString(doc));
      } catch (IOException unreadable) {
        refused++;
        continue; // wrong types, enums, out-of-range numbers: PolicyDocument's to refuse, not the validator's
      }
      List<Violation> violations = PolicyValidator.validate(parsed.spec());
      if (!violations.isEmpty()) {
        refused++;
        continue;
      }
      String yaml = YAML.writeValueAsString(doc);
      assertThatCode(() -> PolicyCodec.fromJson(PolicyCodec.toJson(
          PolicyCompiler.compile(parsed.id(), parsed.spec()).policy())))
          .as("validator passed this spec, so it must compile:\n%s", yaml).doesNotThrowAnyException();
      compiled++;
    }
    assertThat(refused).as("edits refused by the reader or the validator").isGreaterThan(RUNS / 3);
    assertThat(compiled).as("edits that stayed valid and compiled").isGreaterThan(RUNS / 20);
  }

  /** Replaces, removes or nulls one node somewhere below {@code root}. */
  private static void edit(JsonNode root, Random random) {
    List<JsonNode> containers = new ArrayList<>();
    collect(root, containers);
    JsonNode container = containers.get(random.nextInt(containers.size()));
    if (container instanceof ObjectNode object && !object.isEmpty()) {
      List<String> names = new ArrayList<>();
      object.fieldNames().forEachRemaining(names::add);
      String name = names.get(random.nextInt(names.size()));
      if (random.nextInt(5) == 0) {
        object.remove(name);
      } else {
        object.set(name, replacement(object.get(name), random));
      }
    } else if (container instanceof ArrayNode array && !array.isEmpty()) {
      int index = random.nextInt(array.size());
      switch (random.nextInt(4)) {
        case 0 -> array.remove(index);
        case 1 -> array.add(array.get(index).deepCopy());
        default -> array.set(index, replacement(array.get(index), random));
      }
    }
  }

  private static JsonNode replacement(JsonNode old, Random random) {
    JsonNode[] candidates = {
        NODES.nullNode(), NODES.numberNode(0), NODES.numberNode(-1), NODES.numberNode(1),
        NODES.numberNode(Long.MAX_VALUE), NODES.numberNode(9_007_199_254_740_992L), NODES.numberNode(101),
        NODES.textNode(""), NODES.textNode("free"), NODES.textNode("x"), NODES.textNode("claude-*"),
        NODES.textNode("0"), NODES.textNode("1.5.0"), NODES.textNode("999999999999.999999"), NODES.textNode("5m1s"),
        NODES.textNode("https://"), NODES.textNode("v1"), NODES.textNode("X Bad"), NODES.textNode("Authorization"),
        NODES.arrayNode(), NODES.arrayNode().addNull(), NODES.objectNode(),
        old.deepCopy(), old.deepCopy(),
    };
    return candidates[random.nextInt(candidates.length)];
  }

  private static void collect(JsonNode node, List<JsonNode> out) {
    if (node.isContainerNode()) {
      out.add(node);
      node.forEach(child -> collect(child, out));
    }
  }
}
