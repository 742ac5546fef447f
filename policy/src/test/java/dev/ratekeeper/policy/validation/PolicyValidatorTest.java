package dev.ratekeeper.policy.validation;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.Budget;
import dev.ratekeeper.policy.api.Identity;
import dev.ratekeeper.policy.api.ModelQuota;
import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import dev.ratekeeper.policy.api.RequestRate;
import dev.ratekeeper.policy.api.Tier;
import dev.ratekeeper.policy.api.TierTokens;
import dev.ratekeeper.policy.api.Upstream;
import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.policy.api.UserAssignment;
import dev.ratekeeper.policy.compile.Compilation;
import dev.ratekeeper.policy.compile.PolicyCompiler;
import dev.ratekeeper.policy.compile.PolicyDocument;
import dev.ratekeeper.policy.compile.PolicyId;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every validation rule has a failing fixture under {@code src/test/resources/invalid/}: one
 * RateLimitPolicy per rule, whose leading {@code # expect: <path>: <message>} lines are exactly the
 * violations a user sees, in order.
 */
class PolicyValidatorTest {
  private static final String EXPECT = "# expect: ";

  static Stream<String> invalidFixtures() throws IOException, URISyntaxException {
    Path dir = resource("invalid");
    try (Stream<Path> files = Files.list(dir)) {
      return files.map(f -> f.getFileName().toString()).filter(n -> n.endsWith(".yaml")).sorted().toList().stream();
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("invalidFixtures")
  void fixtureYieldsExactlyItsExpectedViolations(String fixture) throws Exception {
    String yaml = Files.readString(resource("invalid").resolve(fixture));
    List<String> expected = yaml.lines().filter(l -> l.startsWith(EXPECT)).map(l -> l.substring(EXPECT.length()))
        .toList();
    assertThat(expected).as("%s has no '# expect:' lines", fixture).isNotEmpty();

    PolicyDocument doc = PolicyDocument.parse(yaml);
    List<String> actual = PolicyValidator.validate(doc.spec()).stream().map(Violation::toString).toList();

    assertThat(actual).as(fixture).containsExactlyElementsOf(expected);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("invalidFixtures")
  void compilerRefusesEveryInvalidFixtureWithTheSameViolations(String fixture) throws Exception {
    PolicyDocument doc = PolicyDocument.read(resource("invalid").resolve(fixture));

    Compilation compilation = PolicyCompiler.compile(doc.id(), doc.spec());

    assertThat(compilation.ok()).isFalse();
    assertThat(compilation.policy()).isNull();
    assertThat(compilation.violations()).isEqualTo(PolicyValidator.validate(doc.spec()));
  }

  @Test
  void policyUsingEveryFieldIsValidAndCompiles() throws Exception {
    PolicyDocument doc = PolicyDocument.read(resource("valid").resolve("everything.yaml"));

    assertThat(PolicyValidator.validate(doc.spec())).isEmpty();
    assertThat(PolicyCompiler.compile(doc.id(), doc.spec()).ok()).isTrue();
  }

  @Test
  void smallestPolicyIsValid() {
    RateLimitPolicySpec spec = new RateLimitPolicySpec();
    spec.tiers = List.of(tier("free"));

    assertThat(PolicyValidator.validate(spec)).isEmpty();
  }

  @Test
  void reportsEveryViolationAtOnceWithItsPath() {
    RateLimitPolicySpec spec = new RateLimitPolicySpec();
    spec.identity = new Identity();
    spec.identity.userHeader = "X User";
    Tier free = tier("free");
    free.requests = new RequestRate(10L, 0L);
    free.budget = new Budget("1.005.0", null);
    Tier dup = tier("free");
    dup.globalShare = 150;
    spec.tiers = List.of(free, tier("pro"), dup);
    spec.defaultTier = "gold";
    spec.users = List.of(new UserAssignment("alice", "pro"), new UserAssignment("bob", "gold"),
        new UserAssignment("alice", "free"));
    ModelQuota sonnet = new ModelQuota();
    sonnet.name = "claude-sonnet-4-6";
    sonnet.fallback = "x";
    spec.models = List.of(sonnet);
    spec.upstreams = List.of(new Upstream("anthropic", "ftp://example.com", null));

    List<String> violations = PolicyValidator.validate(spec).stream().map(Violation::toString).toList();

    assertThat(violations).containsExactly(
        "spec.identity.userHeader: \"X User\" is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~)",
        "spec.tiers[0].requests.burst: must be at least 1",
        "spec.tiers[0].budget.usd: \"1.005.0\" is not a dollar amount: write a decimal with at most 6 fraction digits,"
            + " e.g. \"20.00\"",
        "spec.tiers[0].budget.period: is required (Daily, Weekly or Monthly)",
        "spec.tiers[2].name: duplicate tier \"free\", already defined at spec.tiers[0]",
        "spec.tiers[2].globalShare: must be between 1 and 100",
        "spec.defaultTier: unknown tier \"gold\"",
        "spec.users[1].tier: unknown tier \"gold\"",
        "spec.users[2].id: duplicate user \"alice\", already assigned at spec.users[0]",
        "spec.models[0].fallback: unknown model \"x\"",
        "spec.upstreams[0].url: \"ftp://example.com\" is not an http or https URL with a host,"
            + " e.g. https://api.anthropic.com",
        "spec.upstreams[0].format: is required (anthropic, openai or azure-openai)");
  }

  @Test
  void missingSpecIsOneViolation() {
    assertThat(PolicyValidator.validate(null)).containsExactly(new Violation("spec", "is required"));
  }

  @Test
  void violationReadsAsPathColonMessage() {
    assertThat(new Violation("spec.tiers[1].requests.burst", "must be at least 1"))
        .hasToString("spec.tiers[1].requests.burst: must be at least 1");
  }

  @Test
  void tierMaxPerRequestEqualToItsBucketIsAccepted() {
    Tier free = tier("free");
    free.tokens = new TierTokens();
    free.tokens.perMinute = 2000L;
    free.tokens.perHour = 2000L;
    free.tokens.maxPerRequest = 2000L;
    RateLimitPolicySpec spec = new RateLimitPolicySpec();
    spec.tiers = List.of(free);

    assertThat(PolicyValidator.validate(spec)).isEmpty();

    free.tokens.maxPerRequest = 2001L;
    assertThat(PolicyValidator.validate(spec)).extracting(Violation::path)
        .containsExactly("spec.tiers[0].tokens.maxPerRequest");
  }

  @Test
  void fallbackResolvesThroughGlobsInLookupOrder() {
    ModelQuota sonnet = model("claude-sonnet-4-6", "claude-haiku-4-5");
    ModelQuota haikuGlob = model("claude-haiku-*", null);
    ModelQuota anyClaude = model("claude-*", "claude-sonnet-4-6");
    RateLimitPolicySpec spec = new RateLimitPolicySpec();
    spec.tiers = List.of(tier("free"));
    // Globs are tried in the order listed: with claude-* first, it governs claude-haiku-4-5, and its own
    // fallback leads back to claude-sonnet-4-6.
    spec.models = List.of(sonnet, anyClaude, haikuGlob);
    assertThat(PolicyValidator.validate(spec)).extracting(Violation::toString)
        .containsExactly("spec.models[0].fallback: fallback cycle claude-sonnet-4-6 -> claude-haiku-4-5"
            + " (matched by claude-*) -> claude-sonnet-4-6");

    // With claude-haiku-* first, it governs claude-haiku-4-5 and has no fallback: no cycle.
    spec.models = List.of(sonnet, haikuGlob, anyClaude);
    assertThat(PolicyValidator.validate(spec)).isEmpty();
  }

  private static ModelQuota model(String name, String fallback) {
    ModelQuota model = new ModelQuota();
    model.name = name;
    model.fallback = fallback;
    return model;
  }

  private static Tier tier(String name) {
    Tier tier = new Tier();
    tier.name = name;
    return tier;
  }

  static Path resource(String name) throws URISyntaxException {
    return Path.of(PolicyValidatorTest.class.getResource("/" + name).toURI());
  }
}
