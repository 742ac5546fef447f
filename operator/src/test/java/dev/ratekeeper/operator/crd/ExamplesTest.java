package dev.ratekeeper.operator.crd;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import dev.ratekeeper.policy.api.BudgetPeriod;
import dev.ratekeeper.policy.compile.CompiledBudget;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledPricing;
import dev.ratekeeper.policy.compile.CompiledTier;
import dev.ratekeeper.policy.compile.Compilation;
import dev.ratekeeper.policy.compile.PolicyCompiler;
import dev.ratekeeper.policy.compile.PolicyDocument;
import dev.ratekeeper.policy.compile.Rate;
import dev.ratekeeper.policy.validation.PolicyValidator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every RateLimitPolicy under examples/ is one a user can apply as it is: the generated CRD's schema
 * accepts it, PolicyValidator finds nothing, and it compiles.
 */
class ExamplesTest {
  static Stream<Arguments> policies() throws IOException {
    Path dir = Crds.root().resolve("examples");
    List<Arguments> found = new ArrayList<>();
    try (Stream<Path> files = Files.walk(dir)) { // examples/gateway/ too
      for (Path file : files.filter(f -> f.toString().endsWith(".yaml") || f.toString().endsWith(".yml")).sorted()
          .toList()) {
        try (MappingIterator<JsonNode> docs = Crds.YAML.readerFor(JsonNode.class).readValues(file.toFile())) {
          int index = 0;
          while (docs.hasNext()) {
            JsonNode doc = docs.next();
            if (doc != null && PolicyDocument.KIND.equals(doc.path("kind").asText())) {
              found.add(Arguments.of(dir.relativize(file) + "#" + index, doc));
            }
            index++;
          }
        }
      }
    }
    return found.stream();
  }

  @Test
  void theDocumentedExamplesAreAmongThem() throws IOException {
    assertThat(policies().map(a -> (String) a.get()[0])).contains("policy.yaml#0", "minimal.yaml#0", "gateway/policy.yaml#0");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("policies")
  void passesTheCrdSchema(String example, JsonNode document) {
    assertThat(Crds.schemaViolations(document)).isEmpty();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("policies")
  void hasNoViolationsAndCompiles(String example, JsonNode document) throws IOException {
    PolicyDocument policy = PolicyDocument.parse(Crds.YAML.writeValueAsString(document));

    assertThat(PolicyValidator.validate(policy.spec())).isEmpty();
    Compilation compilation = PolicyCompiler.compile(policy.id(), policy.spec());
    assertThat(compilation.ok()).isTrue();
  }

  /** examples/policy.yaml is what the README and the sidecar's --policy-file walkthrough describe. */
  @Test
  void mainExampleEnforcesTheDocumentedLimits() throws IOException {
    PolicyDocument doc = PolicyDocument.read(Crds.root().resolve("examples/policy.yaml"));
    CompiledPolicy policy = PolicyCompiler.compile(doc.id(), doc.spec()).policy();

    assertThat(doc.id().name()).isEqualTo("agents");
    CompiledTier free = policy.tier("free").orElseThrow();
    CompiledTier pro = policy.tier("pro").orElseThrow();
    CompiledTier premium = policy.tier("premium").orElseThrow();
    assertThat(List.of(free.requests(), pro.requests(), premium.requests())).containsExactly(
        new Rate(10, 60_000, 5), new Rate(60, 60_000, 20), new Rate(300, 60_000, 100));
    assertThat(List.of(free.tokensPerHour(), pro.tokensPerHour(), premium.tokensPerHour()))
        .containsExactly(50_000L, 500_000L, 5_000_000L);
    assertThat(List.of(free.maxPerRequest(), pro.maxPerRequest(), premium.maxPerRequest()))
        .containsExactly(2_000L, 10_000L, 50_000L);
    assertThat(List.of(free.budget(), pro.budget(), premium.budget())).containsExactly(
        new CompiledBudget(1_000_000, BudgetPeriod.Monthly), new CompiledBudget(20_000_000, BudgetPeriod.Monthly),
        new CompiledBudget(200_000_000, BudgetPeriod.Monthly));
    assertThat(policy.warnAtPercent()).isEqualTo(80);
    assertThat(policy.global().requests()).isEqualTo(new Rate(500, 60_000, 500));
    assertThat(policy.model("claude-sonnet-4-6").orElseThrow().fallback()).isEqualTo("claude-haiku-4-5");
    assertThat(policy.model("claude-haiku-4-5").orElseThrow().pricing())
        .isEqualTo(new CompiledPricing(1_000_000, 5_000_000, 100_000, 1_250_000));
    assertThat(policy.model("claude-sonnet-4-6").orElseThrow().pricing())
        .isEqualTo(new CompiledPricing(3_000_000, 15_000_000, 300_000, 3_750_000));
    assertThat(policy.model("claude-opus-4-6").orElseThrow().pricing())
        .isEqualTo(new CompiledPricing(5_000_000, 25_000_000, 500_000, 6_250_000));
    assertThat(policy.model("gpt-4o").orElseThrow().pricing())
        .isEqualTo(new CompiledPricing(2_500_000, 10_000_000, 1_250_000, 2_500_000));
    assertThat(policy.model("gpt-4o-mini").orElseThrow().pricing())
        .isEqualTo(new CompiledPricing(150_000, 600_000, 75_000, 150_000));
    assertThat(policy.upstreams()).extracting(u -> u.name()).containsExactly("anthropic", "openai");
  }
}
