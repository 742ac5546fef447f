package dev.ratekeeper.policy.compile;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.BudgetPeriod;
import dev.ratekeeper.policy.api.BudgetSettings;
import dev.ratekeeper.policy.api.Mode;
import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import dev.ratekeeper.policy.api.StoreFailureMode;
import dev.ratekeeper.policy.api.UnmeteredPaths;
import dev.ratekeeper.policy.api.Upstream;
import dev.ratekeeper.policy.api.UpstreamFormat;
import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class PolicyCompilerTest {
  private static final PolicyId ID = new PolicyId("team-a", "agents");

  private static final String BASE = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: agents, namespace: team-a}
      spec:
        identity: {apiKeySecretRef: {name: agent-keys}}
        tiers:
        - name: free
          priority: 2
          requests: {perMinute: 10, burst: 5}
          tokens: {perMinute: 20000, perHour: 50000, perDay: 200000, maxPerRequest: 2000}
          concurrency: 2
          budget: {usd: "1.00", period: Monthly}
          models: ["claude-haiku-*"]
          globalShare: 50
          maxQueueWait: 1m30s
        - name: pro
          requests: {perMinute: 60}
        users:
        - {id: alice, tier: pro}
        - {id: bob, tier: free}
        models:
        - name: claude-sonnet-4-6
          requests: {perMinute: 1000}
          tokens: {perMinute: 80000, perDay: 2000000}
          pricing: {inputPerMillion: "3.00", outputPerMillion: "15.00", cachedInputPerMillion: "0.30",
                    cacheWritePerMillion: "3.75"}
          fallback: claude-haiku-4-5
        - name: claude-haiku-*
          pricing: {inputPerMillion: "1", outputPerMillion: "5"}
        global:
          requests: {perMinute: 500}
          budget: {usd: "5000.000001", period: Weekly}
      """;

  @Test
  void appliesDefaultsToEverythingLeftOut() {
    CompiledPolicy policy = compile(spec("""
        tiers:
        - name: free
          requests: {perMinute: 10}
          tokens: {perMinute: 20000}
        models:
        - name: gpt-4o
          pricing: {inputPerMillion: "2.50", outputPerMillion: "10.00"}
        """));

    assertThat(policy.schemaVersion()).isEqualTo(CompiledPolicy.SCHEMA_VERSION);
    assertThat(policy.id()).isEqualTo(ID);
    assertThat(policy.mode()).isEqualTo(Mode.Enforce);
    assertThat(policy.identity()).isEqualTo(
        new CompiledIdentity("X-Ratekeeper-User", "X-Ratekeeper-Tier", false, "X-Ratekeeper-Api-Key", null));
    assertThat(policy.defaultTier()).isEqualTo("free");
    assertThat(policy.defaultMaxTokens()).isEqualTo(4096);
    assertThat(policy.warnAtPercent()).isEqualTo(80);
    assertThat(policy.clampMaxTokens()).isFalse();
    assertThat(policy.unmeteredPaths()).isEqualTo(UnmeteredPaths.RequestsOnly);
    assertThat(policy.onStoreUnavailable()).isEqualTo(StoreFailureMode.LocalFallback);
    assertThat(policy.global()).isEqualTo(CompiledGlobal.UNLIMITED);
    assertThat(policy.users()).isEmpty();
    assertThat(policy.upstreams()).containsExactly(
        new CompiledUpstream("anthropic", "https://api.anthropic.com", UpstreamFormat.ANTHROPIC, null, null),
        new CompiledUpstream("openai", "https://api.openai.com", UpstreamFormat.OPENAI, null, null));

    CompiledTier free = policy.tiers().get(0);
    assertThat(free.priority()).isZero();
    assertThat(free.requests()).isEqualTo(new Rate(10, 60_000, 10));
    assertThat(free.tokensPerMinute()).isEqualTo(new Rate(20_000, 60_000, 20_000));
    assertThat(free.tokensPerHour()).isNull();
    assertThat(free.tokensPerDay()).isNull();
    assertThat(free.maxPerRequest()).isNull();
    assertThat(free.concurrency()).isNull();
    assertThat(free.budget()).isNull();
    assertThat(free.models()).isEmpty();
    assertThat(free.allowsModel("anything")).isTrue();
    assertThat(free.globalShare()).isEqualTo(100);
    assertThat(free.maxQueueWaitMs()).isZero();

    CompiledModel gpt4o = policy.models().get(0);
    assertThat(gpt4o.requests()).isNull();
    assertThat(gpt4o.tokensPerMinute()).isNull();
    assertThat(gpt4o.tokensPerDay()).isNull();
    assertThat(gpt4o.fallback()).isNull();
    // missing cache prices fall back to the input price
    assertThat(gpt4o.pricing()).isEqualTo(new CompiledPricing(2_500_000, 10_000_000, 2_500_000, 2_500_000));
  }

  @Test
  void compilesToIntegerUnits() {
    CompiledPolicy policy = compile(parse(BASE).spec());

    CompiledTier free = policy.tier("free").orElseThrow();
    assertThat(free.budget()).isEqualTo(new CompiledBudget(1_000_000, BudgetPeriod.Monthly));
    assertThat(free.maxQueueWaitMs()).isEqualTo(90_000);
    assertThat(free.requests()).isEqualTo(new Rate(10, 60_000, 5));
    assertThat(free.tokensPerHour()).isEqualTo(50_000);
    assertThat(free.tokensPerDay()).isEqualTo(200_000);
    assertThat(free.maxPerRequest()).isEqualTo(2_000);
    assertThat(free.concurrency()).isEqualTo(2);
    assertThat(free.globalShare()).isEqualTo(50);
    assertThat(free.priority()).isEqualTo(2);
    assertThat(policy.model("claude-sonnet-4-6").orElseThrow().pricing())
        .isEqualTo(new CompiledPricing(3_000_000, 15_000_000, 300_000, 3_750_000));
    assertThat(policy.model("claude-sonnet-4-6").orElseThrow().tokensPerDay()).isEqualTo(2_000_000);
    assertThat(policy.global().budget()).isEqualTo(new CompiledBudget(5_000_000_001L, BudgetPeriod.Weekly));
    assertThat(policy.global().requests()).isEqualTo(new Rate(500, 60_000, 500));
    assertThat(policy.users()).containsExactlyInAnyOrderEntriesOf(Map.of("alice", "pro", "bob", "free"));
    assertThat(policy.identity().apiKeySecretName()).isEqualTo("agent-keys");
  }

  @Test
  void modelsMatchExactNamesFirstThenTheFirstListedGlob() {
    CompiledPolicy policy = compile(spec("""
        tiers: [{name: free}]
        models:
        - name: claude-*
        - name: claude-sonnet-4-6
        - name: claude-s*
        - name: gpt-4o
        - name: gpt-4o-*
        """));

    assertThat(policy.models()).extracting(CompiledModel::pattern)
        .containsExactly("claude-sonnet-4-6", "gpt-4o", "claude-*", "claude-s*", "gpt-4o-*");
    assertThat(policy.model("claude-sonnet-4-6").orElseThrow().pattern()).isEqualTo("claude-sonnet-4-6");
    assertThat(policy.model("claude-sonnet-4-5").orElseThrow().pattern()).isEqualTo("claude-*");
    assertThat(policy.model("gpt-4o").orElseThrow().pattern()).isEqualTo("gpt-4o");
    assertThat(policy.model("gpt-4o-mini").orElseThrow().pattern()).isEqualTo("gpt-4o-*");
    assertThat(policy.model("o3")).isEmpty();
  }

  @Test
  void upstreamUrlsLoseATrailingSlashAndKeepTheirOrderAndCredentials() {
    CompiledPolicy policy = compile(spec("""
        tiers: [{name: free}]
        upstreams:
        - {name: openrouter, url: "https://openrouter.ai/api/", format: openai}
        - name: anthropic
          url: https://api.anthropic.com
          format: anthropic
          credentialsSecretRef: {name: anthropic-key, key: api-key}
        - {name: openai, url: "https://api.openai.com", format: openai}
        """));

    assertThat(policy.upstreams()).containsExactly(
        new CompiledUpstream("openrouter", "https://openrouter.ai/api", UpstreamFormat.OPENAI, null, null),
        new CompiledUpstream("anthropic", "https://api.anthropic.com", UpstreamFormat.ANTHROPIC, "anthropic-key",
            "api-key"),
        new CompiledUpstream("openai", "https://api.openai.com", UpstreamFormat.OPENAI, null, null));
    assertThat(policy.firstUpstream(UpstreamFormat.OPENAI).orElseThrow().name()).isEqualTo("openrouter");
    assertThat(policy.upstream("openai").orElseThrow().url()).isEqualTo("https://api.openai.com");
  }

  @Test
  void revisionIsAShortHashOfTheEffectivePolicy() {
    CompiledPolicy policy = compile(parse(BASE).spec());

    assertThat(policy.revision()).matches("[0-9a-f]{12}");
    assertThat(compile(parse(BASE).spec()).revision()).isEqualTo(policy.revision());
    assertThat(PolicyCompiler.compile(new PolicyId("other", "name"), parse(BASE).spec()).policy().revision())
        .as("the revision does not depend on where the policy lives").isEqualTo(policy.revision());
  }

  static Stream<Arguments> sameEffectivePolicy() {
    return Stream.of(
        Arguments.of("burst absent vs burst == perMinute",
            (Consumer<RateLimitPolicySpec>) s -> s.tiers.get(1).requests.burst = 60L),
        Arguments.of("defaults written out",
            (Consumer<RateLimitPolicySpec>) s -> {
              s.mode = Mode.Enforce;
              s.defaultTier = "free";
              s.defaultMaxTokens = 4096L;
              s.unmeteredPaths = UnmeteredPaths.RequestsOnly;
              s.onStoreUnavailable = StoreFailureMode.LocalFallback;
              s.identity.userHeader = "X-Ratekeeper-User";
              s.identity.trustTierHeader = false;
              s.tiers.get(1).priority = 0;
              s.tiers.get(1).globalShare = 100;
              s.tiers.get(1).maxQueueWait = "0s";
              s.tiers.get(1).models = List.of();
            }),
        Arguments.of("a duration written differently", (Consumer<RateLimitPolicySpec>) s -> s.tiers.get(0).maxQueueWait = "90s"),
        Arguments.of("money written differently",
            (Consumer<RateLimitPolicySpec>) s -> {
              s.tiers.get(0).budget.usd = "1";
              s.models.get(1).pricing.inputPerMillion = "1.000000";
            }),
        Arguments.of("cache prices written out as the input price",
            (Consumer<RateLimitPolicySpec>) s -> s.models.get(1).pricing.cachedInputPerMillion = "1.00"),
        Arguments.of("users listed in another order",
            (Consumer<RateLimitPolicySpec>) s -> s.users = List.of(s.users.get(1), s.users.get(0))),
        Arguments.of("a glob listed before an exact name (same match order)",
            (Consumer<RateLimitPolicySpec>) s -> s.models = List.of(s.models.get(1), s.models.get(0))),
        Arguments.of("default upstreams written out",
            (Consumer<RateLimitPolicySpec>) s -> s.upstreams = List.of(
                new Upstream("anthropic", "https://api.anthropic.com/", UpstreamFormat.ANTHROPIC),
                new Upstream("openai", "https://api.openai.com", UpstreamFormat.OPENAI))));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("sameEffectivePolicy")
  void sameEffectivePolicyKeepsItsRevision(String change, Consumer<RateLimitPolicySpec> edit) {
    RateLimitPolicySpec spec = parse(BASE).spec();
    edit.accept(spec);

    assertThat(compile(spec).revision()).isEqualTo(compile(parse(BASE).spec()).revision());
  }

  static Stream<Arguments> effectiveChanges() {
    return Stream.<Map.Entry<String, Consumer<RateLimitPolicySpec>>>of(
        Map.entry("mode", s -> s.mode = Mode.Shadow),
        Map.entry("user header", s -> s.identity.userHeader = "X-User"),
        Map.entry("tier header", s -> s.identity.tierHeader = "X-Tier"),
        Map.entry("trust tier header", s -> s.identity.trustTierHeader = true),
        Map.entry("api key header", s -> s.identity.apiKeyHeader = "X-Key"),
        Map.entry("api key secret", s -> s.identity.apiKeySecretRef.name = "other-keys"),
        Map.entry("default tier", s -> s.defaultTier = "pro"),
        Map.entry("default max tokens", s -> s.defaultMaxTokens = 1000L),
        Map.entry("tier order", s -> s.tiers = List.of(s.tiers.get(1), s.tiers.get(0))),
        Map.entry("tier priority", s -> s.tiers.get(0).priority = 1),
        Map.entry("requests perMinute", s -> s.tiers.get(0).requests.perMinute = 11L),
        Map.entry("requests burst", s -> s.tiers.get(0).requests.burst = 6L),
        Map.entry("tokens perMinute", s -> s.tiers.get(0).tokens.perMinute = 20001L),
        Map.entry("tokens burst", s -> s.tiers.get(0).tokens.burst = 10000L),
        Map.entry("tokens perHour", s -> s.tiers.get(0).tokens.perHour = 50001L),
        Map.entry("tokens perDay", s -> s.tiers.get(0).tokens.perDay = 200001L),
        Map.entry("maxPerRequest", s -> s.tiers.get(0).tokens.maxPerRequest = 1999L),
        Map.entry("concurrency", s -> s.tiers.get(0).concurrency = 3),
        Map.entry("budget usd", s -> s.tiers.get(0).budget.usd = "1.000001"),
        Map.entry("budget period", s -> s.tiers.get(0).budget.period = BudgetPeriod.Daily),
        Map.entry("tier models", s -> s.tiers.get(0).models = List.of("claude-*")),
        Map.entry("global share", s -> s.tiers.get(0).globalShare = 51),
        Map.entry("max queue wait", s -> s.tiers.get(0).maxQueueWait = "1m31s"),
        Map.entry("user tier", s -> s.users.get(0).tier = "free"),
        Map.entry("model requests", s -> s.models.get(0).requests.perMinute = 999L),
        Map.entry("model tokens perDay", s -> s.models.get(0).tokens.perDay = 1L),
        Map.entry("model price", s -> s.models.get(0).pricing.outputPerMillion = "15.000001"),
        Map.entry("model cache write price", s -> s.models.get(0).pricing.cacheWritePerMillion = "3.00"),
        Map.entry("model fallback", s -> s.models.get(0).fallback = "claude-haiku-4-6"),
        Map.entry("global requests", s -> s.global.requests.burst = 100L),
        Map.entry("global budget", s -> s.global.budget.usd = "5000"),
        Map.entry("warn at percent", s -> {
          s.budgets = new BudgetSettings();
          s.budgets.warnAtPercent = 90;
        }),
        Map.entry("clamp max tokens", s -> {
          s.budgets = new BudgetSettings();
          s.budgets.clampMaxTokens = true;
        }),
        Map.entry("upstream url", s -> s.upstreams = List.of(
            new Upstream("anthropic", "http://127.0.0.1:9001", UpstreamFormat.ANTHROPIC))),
        Map.entry("unmetered paths", s -> s.unmeteredPaths = UnmeteredPaths.Deny),
        Map.entry("store failure mode", s -> s.onStoreUnavailable = StoreFailureMode.FailOpen))
        .map(e -> Arguments.of(e.getKey(), e.getValue()));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("effectiveChanges")
  void everyEffectiveChangeMakesANewRevision(String change, Consumer<RateLimitPolicySpec> edit) {
    RateLimitPolicySpec spec = parse(BASE).spec();
    edit.accept(spec);

    Compilation compilation = PolicyCompiler.compile(ID, spec);
    assertThat(compilation.violations()).as("the edited spec stays valid").isEmpty();
    assertThat(compilation.policy().revision()).isNotEqualTo(compile(parse(BASE).spec()).revision());
  }

  @Test
  void everyEffectiveChangeMakesADifferentRevisionFromEveryOther() {
    Map<String, String> seen = new HashMap<>();
    effectiveChanges().forEach(args -> {
      @SuppressWarnings("unchecked")
      Consumer<RateLimitPolicySpec> edit = (Consumer<RateLimitPolicySpec>) args.get()[1];
      RateLimitPolicySpec spec = parse(BASE).spec();
      edit.accept(spec);
      String previous = seen.put(compile(spec).revision(), (String) args.get()[0]);
      assertThat(previous).as("revision of '%s'", args.get()[0]).isNull();
    });
    assertThat(seen).hasSizeGreaterThan(30);
  }

  @Test
  void azureDeploymentsMapToModelsAndUnmappedOnesFollowThePolicy() {
    CompiledPolicy policy = compile(spec("""
        tiers: [{name: free}]
        upstreams:
        - name: azure
          url: https://contoso.openai.azure.com/
          format: azure-openai
          deployments: [{name: prod-4o, model: gpt-4o}, {name: cheap, model: gpt-4o-mini}]
        - {name: azure-named, url: "https://c2.openai.azure.com", format: azure-openai,
           unmappedDeployments: DeploymentNameIsModel, requestStreamUsage: false, outputCapField: max_tokens}
        - {name: openai, url: "https://api.openai.com", format: openai}
        """));

    CompiledUpstream azure = policy.upstream("azure").orElseThrow();
    assertThat(azure.format()).isEqualTo(UpstreamFormat.AZURE_OPENAI);
    assertThat(azure.url()).isEqualTo("https://contoso.openai.azure.com");
    assertThat(azure.deployments()).containsExactly(Map.entry("cheap", "gpt-4o-mini"), Map.entry("prod-4o", "gpt-4o"));
    assertThat(azure.modelOf("prod-4o")).contains("gpt-4o");
    assertThat(azure.modelOf("gpt-4o")).as("unmapped, refused by default").isEmpty();
    assertThat(azure.asksForStreamUsage()).isTrue();
    CompiledUpstream named = policy.upstream("azure-named").orElseThrow();
    assertThat(named.modelOf("gpt-4.1")).contains("gpt-4.1");
    assertThat(named.asksForStreamUsage()).isFalse();
    assertThat(named.outputCapField()).isEqualTo("max_tokens");
    assertThat(azure.outputCapField()).isEqualTo("max_completion_tokens");
    assertThat(policy.upstream("openai").orElseThrow().deployments()).isEmpty();

    CompiledPolicy back = PolicyCodec.fromJson(PolicyCodec.toJson(policy));
    assertThat(back).isEqualTo(policy);
    assertThat(back.upstream("azure").orElseThrow().modelOf("cheap")).contains("gpt-4o-mini");
  }

  @Test
  void aCompiledUpstreamWrittenBeforeDeploymentsExistedStillAsksForStreamUsage() throws Exception {
    var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
    CompiledUpstream old = mapper.readValue("""
        {"name":"openai","url":"https://api.openai.com","format":"openai",
         "credentialsSecretName":null,"credentialsSecretKey":null}""", CompiledUpstream.class);

    assertThat(old.asksForStreamUsage()).isTrue();
    assertThat(old.outputCapField()).isEqualTo("max_completion_tokens");
    assertThat(old.deployments()).isEmpty();
    assertThat(old.modelOf("gpt-4o")).isEmpty();
  }

  private static CompiledPolicy compile(RateLimitPolicySpec spec) {
    Compilation compilation = PolicyCompiler.compile(ID, spec);
    assertThat(compilation.violations()).isEmpty();
    return compilation.policy();
  }

  private static RateLimitPolicySpec spec(String specYaml) {
    return parse("apiVersion: ratekeeper.dev/v1alpha1\nkind: RateLimitPolicy\nmetadata: {name: agents, namespace:"
        + " team-a}\nspec:\n" + specYaml.indent(2)).spec();
  }

  static PolicyDocument parse(String yaml) {
    try {
      return PolicyDocument.parse(yaml);
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }
}
