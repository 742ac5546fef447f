package dev.ratekeeper.policy.compile;

import dev.ratekeeper.policy.api.AzureDeployment;
import dev.ratekeeper.policy.api.Budget;
import dev.ratekeeper.policy.api.BudgetSettings;
import dev.ratekeeper.policy.api.Durations;
import dev.ratekeeper.policy.api.GlobalLimits;
import dev.ratekeeper.policy.api.Identity;
import dev.ratekeeper.policy.api.Mode;
import dev.ratekeeper.policy.api.ModelQuota;
import dev.ratekeeper.policy.api.Money;
import dev.ratekeeper.policy.api.Pricing;
import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import dev.ratekeeper.policy.api.StoreFailureMode;
import dev.ratekeeper.policy.api.RunLimits;
import dev.ratekeeper.policy.api.Tier;
import dev.ratekeeper.policy.api.UnmappedDeployments;
import dev.ratekeeper.policy.api.UnmeteredPaths;
import dev.ratekeeper.policy.api.Upstream;
import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.policy.api.UserAssignment;
import dev.ratekeeper.policy.validation.PolicyValidator;
import dev.ratekeeper.policy.validation.Violation;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Turns a validated spec into the {@link CompiledPolicy} sidecars execute. Pure: no I/O. */
public final class PolicyCompiler {
  public static final long DEFAULT_MAX_TOKENS = 4096;
  public static final int DEFAULT_WARN_AT_PERCENT = 80;
  /** Hex digits of the SHA-256 kept as the revision. */
  static final int REVISION_LENGTH = 12;

  private PolicyCompiler() {}

  /** Validates, then compiles. Invalid specs yield every violation and no policy. */
  public static Compilation compile(PolicyId id, RateLimitPolicySpec spec) {
    List<Violation> violations = PolicyValidator.validate(spec);
    if (!violations.isEmpty()) {
      return new Compilation(null, violations);
    }
    return new Compilation(compileValid(id, spec), List.of());
  }

  private static CompiledPolicy compileValid(PolicyId id, RateLimitPolicySpec spec) {
    Identity identity = spec.identity == null ? new Identity() : spec.identity;
    BudgetSettings budgets = spec.budgets == null ? new BudgetSettings() : spec.budgets;
    GlobalLimits global = spec.global;

    List<CompiledTier> tiers = spec.tiers.stream().map(PolicyCompiler::tier).toList();
    Map<String, String> users = new LinkedHashMap<>();
    if (spec.users != null) {
      for (UserAssignment user : spec.users) {
        users.put(user.id, user.tier);
      }
    }

    CompiledPolicy unhashed = new CompiledPolicy(
        CompiledPolicy.SCHEMA_VERSION,
        null,
        null,
        spec.mode == null ? Mode.Enforce : spec.mode,
        new CompiledIdentity(
            or(identity.userHeader, Identity.DEFAULT_USER_HEADER),
            or(identity.tierHeader, Identity.DEFAULT_TIER_HEADER),
            Boolean.TRUE.equals(identity.trustTierHeader),
            or(identity.apiKeyHeader, Identity.DEFAULT_API_KEY_HEADER),
            identity.apiKeySecretRef == null ? null : identity.apiKeySecretRef.name,
            Boolean.TRUE.equals(identity.requireApiKey),
            or(identity.runHeader, Identity.DEFAULT_RUN_HEADER)),
        spec.defaultTier == null ? spec.tiers.get(0).name : spec.defaultTier,
        spec.defaultMaxTokens == null ? DEFAULT_MAX_TOKENS : spec.defaultMaxTokens,
        tiers,
        users,
        models(spec.models),
        global == null ? CompiledGlobal.UNLIMITED : new CompiledGlobal(
            global.requests == null ? null : Rate.perMinute(global.requests.perMinute, global.requests.burst),
            global.tokens == null ? null : Rate.perMinute(global.tokens.perMinute, global.tokens.burst),
            budget(global.budget)),
        budgets.warnAtPercent == null ? DEFAULT_WARN_AT_PERCENT : budgets.warnAtPercent,
        Boolean.TRUE.equals(budgets.clampMaxTokens),
        upstreams(spec.upstreams),
        spec.unmeteredPaths == null ? UnmeteredPaths.RequestsOnly : spec.unmeteredPaths,
        spec.onStoreUnavailable == null ? StoreFailureMode.LocalFallback : spec.onStoreUnavailable,
        spec.allowUnmeterable == null ? List.of() : spec.allowUnmeterable.stream().sorted().toList(),
        Boolean.TRUE.equals(budgets.refuseUnpricedModels));

    String revision = revisionOf(unhashed);
    return new CompiledPolicy(unhashed.schemaVersion(), id, revision, unhashed.mode(), unhashed.identity(),
        unhashed.defaultTier(), unhashed.defaultMaxTokens(), unhashed.tiers(), unhashed.users(), unhashed.models(),
        unhashed.global(), unhashed.warnAtPercent(), unhashed.clampMaxTokens(), unhashed.upstreams(),
        unhashed.unmeteredPaths(), unhashed.onStoreUnavailable(), unhashed.allowUnmeterable(),
        unhashed.refuseUnpricedModels());
  }

  private static CompiledTier tier(Tier tier) {
    var tokens = tier.tokens;
    return new CompiledTier(
        tier.name,
        tier.priority == null ? 0 : tier.priority,
        tier.requests == null ? null : Rate.perMinute(tier.requests.perMinute, tier.requests.burst),
        tokens == null ? null : Rate.perMinute(tokens.perMinute, tokens.burst),
        tokens == null ? null : tokens.perHour,
        tokens == null ? null : tokens.perDay,
        tokens == null ? null : tokens.maxPerRequest,
        tier.concurrency,
        budget(tier.budget),
        tier.models == null ? List.of() : List.copyOf(tier.models),
        tier.globalShare == null ? 100 : tier.globalShare,
        tier.maxQueueWait == null ? 0 : Durations.parseMillis(tier.maxQueueWait).orElseThrow(),
        run(tier.run));
  }

  private static CompiledRun run(RunLimits run) {
    if (run == null) {
      return null;
    }
    return new CompiledRun(run.usd == null ? null : micros(run.usd), run.tokens, run.requests,
        Durations.parseMillis(run.idleTimeout == null ? RunLimits.DEFAULT_IDLE_TIMEOUT : run.idleTimeout).orElseThrow());
  }

  /** Exact names first (in the order listed), then globs (in the order listed): the match order. */
  private static List<CompiledModel> models(List<ModelQuota> quotas) {
    if (quotas == null) {
      return List.of();
    }
    List<CompiledModel> exact = new ArrayList<>();
    List<CompiledModel> globs = new ArrayList<>();
    for (ModelQuota quota : quotas) {
      CompiledModel model = new CompiledModel(
          quota.name,
          quota.requests == null ? null : Rate.perMinute(quota.requests.perMinute, quota.requests.burst),
          quota.tokens == null ? null : Rate.perMinute(quota.tokens.perMinute, quota.tokens.burst),
          quota.tokens == null ? null : quota.tokens.perDay,
          pricing(quota.pricing),
          quota.fallback,
          quota.budgetFallback,
          quota.downgradeAtPercent,
          quota.reserveOutputPercentile);
      (model.isGlob() ? globs : exact).add(model);
    }
    exact.addAll(globs);
    return exact;
  }

  private static CompiledPricing pricing(Pricing pricing) {
    if (pricing == null) {
      return null;
    }
    long input = micros(pricing.inputPerMillion);
    return new CompiledPricing(
        input,
        micros(pricing.outputPerMillion),
        pricing.cachedInputPerMillion == null ? input : micros(pricing.cachedInputPerMillion),
        pricing.cacheWritePerMillion == null ? input : micros(pricing.cacheWritePerMillion));
  }

  private static CompiledBudget budget(Budget budget) {
    return budget == null ? null : new CompiledBudget(micros(budget.usd), budget.period);
  }

  private static List<CompiledUpstream> upstreams(List<Upstream> upstreams) {
    if (upstreams == null || upstreams.isEmpty()) {
      return List.of(
          new CompiledUpstream("anthropic", "https://api.anthropic.com", UpstreamFormat.ANTHROPIC, null, null),
          new CompiledUpstream("openai", "https://api.openai.com", UpstreamFormat.OPENAI, null, null));
    }
    return upstreams.stream().map(u -> new CompiledUpstream(
        u.name,
        u.url.endsWith("/") ? u.url.substring(0, u.url.length() - 1) : u.url,
        u.format,
        u.credentialsSecretRef == null ? null : u.credentialsSecretRef.name,
        u.credentialsSecretRef == null ? null : u.credentialsSecretRef.key,
        deployments(u.deployments),
        u.unmappedDeployments == UnmappedDeployments.DeploymentNameIsModel,
        u.requestStreamUsage == null || u.requestStreamUsage,
        u.outputCapField == null ? null : u.outputCapField.field())).toList();
  }

  private static Map<String, String> deployments(List<AzureDeployment> deployments) {
    Map<String, String> byName = new java.util.TreeMap<>();
    if (deployments != null) {
      deployments.forEach(d -> byName.put(d.name, d.model));
    }
    return byName;
  }

  private static long micros(String usd) {
    return Money.parseMicros(usd).orElseThrow();
  }

  private static String or(String value, String fallback) {
    return value == null ? fallback : value;
  }

  /** SHA-256 of the canonical JSON of the compiled policy without its id and revision. */
  static String revisionOf(CompiledPolicy unhashed) {
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256")
          .digest(PolicyCodec.toJson(unhashed).getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(digest).substring(0, REVISION_LENGTH);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
