package dev.ratekeeper.operator.query;

import dev.ratekeeper.operator.store.RedisPolicyStore;
import dev.ratekeeper.policy.compile.CompiledModel;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledTier;
import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.AdmitScriptCall;
import dev.ratekeeper.sidecar.limiter.Check;
import dev.ratekeeper.sidecar.limiter.CheckOutcome;
import dev.ratekeeper.sidecar.limiter.Dimension;
import dev.ratekeeper.sidecar.limiter.LimitPlan;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

/**
 * Why a user is (or would be) throttled: every limit that applies to the user under the policy's
 * current revision (tier rates and quotas, concurrency, budget, every model entry's quotas, the
 * global rates with the tier's share, the global budget), each read from Redis by the very call
 * sidecars make ({@code admit.lua}, built by {@link LimitPlan} and {@link AdmitScriptCall}) in peek
 * mode: decided, nothing written. All counters in one script call, on Redis' clock.
 *
 * <p>"Blocking" means that the smallest possible call (one request, one token, one micro-dollar,
 * one in-flight slot) would be refused now; a real call reserves its input estimate plus its output
 * cap and can be refused by a limit that still has a little left.
 */
public final class LimitsExplainer {
  /** How the user's tier was chosen. */
  public enum TierSource { USERS, DEFAULT_TIER, REQUESTED }

  private static final int PERIOD_ATTEMPTS = 3;

  private final RedisPolicyStore store;
  private final String source = AdmitScriptCall.scriptSource();
  private final String sha = AdmitScriptCall.sha1(source);

  public LimitsExplainer(RedisPolicyStore store) {
    this.store = store;
  }

  /** A refusal to explain: the policy is not in Redis, the tier or model is unknown. */
  public static final class ExplainException extends RuntimeException {
    private final int status;

    ExplainException(int status, String message) {
      super(message);
      this.status = status;
    }

    public int status() {
      return status;
    }
  }

  /**
   * @param tierName the tier to explain for, or null for the user's own (users[], else defaultTier)
   * @param modelName a model to explain the quotas of, or null for every model entry of the policy
   */
  public Explanation explain(PolicyId id, String user, String tierName, String modelName) {
    return explain(id, user, tierName, modelName, null);
  }

  /**
   * As {@link #explain(PolicyId, String, String, String)}, with the caps of the agent run {@code run}
   * (as named in {@code identity.runHeader}; null: outside any run) when the tier has them.
   */
  public Explanation explain(PolicyId id, String user, String tierName, String modelName, String run) {
    CompiledPolicy policy = store.currentPolicy(id).orElseThrow(() -> new ExplainException(404,
        "policy " + id + " has no compiled revision in Redis (not accepted yet, or the operator cannot reach Redis)"));
    TierSource tierSource;
    String chosen;
    if (tierName != null) {
      chosen = tierName;
      tierSource = TierSource.REQUESTED;
    } else if (policy.users().containsKey(user)) {
      chosen = policy.users().get(user);
      tierSource = TierSource.USERS;
    } else {
      chosen = policy.defaultTier();
      tierSource = TierSource.DEFAULT_TIER;
    }
    CompiledTier tier = policy.tier(chosen).orElseThrow(() -> new ExplainException(400,
        "policy " + id + " has no tier \"" + chosen + "\""));

    List<CompiledModel> models;
    if (modelName != null) {
      Optional<CompiledModel> entry = policy.model(modelName);
      models = entry.map(List::of).orElse(List.of());
    } else {
      models = policy.models();
    }
    AdmitRequest base = peek(policy, user, tier, null).withRun(run);
    List<Check> checks = new ArrayList<>(LimitPlan.checks(base));
    List<String> modelOf = new ArrayList<>();
    checks.forEach(c -> modelOf.add(null));
    for (CompiledModel model : models) {
      for (Check check : LimitPlan.checks(peek(policy, user, tier, model))) {
        if (isModelDimension(check.dimension())) {
          checks.add(check);
          modelOf.add(model.pattern());
        }
      }
    }
    Peeked peeked = run(base, checks);
    List<Explanation.Limit> limits = new ArrayList<>(checks.size());
    for (int i = 0; i < checks.size(); i++) {
      limits.add(Explanation.Limit.of(checks.get(i), modelOf.get(i), tier.name(), peeked.outcomes().get(i)));
    }
    String modelNote = modelName == null ? null
        : models.isEmpty() ? "no models[] entry governs \"" + modelName + "\": no model quota applies" : null;
    boolean modelAllowed = modelName == null || tier.allowsModel(modelName);
    return Explanation.of(id, policy.revision(), user, tier.name(), tierSource, modelName, modelAllowed, modelNote,
        run, policy.shadow(), peeked.nowMs(), limits);
  }

  private static boolean isModelDimension(Dimension dimension) {
    return dimension == Dimension.MODEL_REQUESTS_PER_MINUTE || dimension == Dimension.MODEL_TOKENS_PER_MINUTE
        || dimension == Dimension.MODEL_TOKENS_PER_DAY;
  }

  private static AdmitRequest peek(CompiledPolicy policy, String user, CompiledTier tier, CompiledModel model) {
    return AdmitRequest.metered(policy, "explain-" + UUID.randomUUID(), user, tier, model, 1, 1).asPeek();
  }

  private record Peeked(long nowMs, List<CheckOutcome> outcomes) {}

  private Peeked run(AdmitRequest request, List<Check> checks) {
    String periodId = LimitPlan.statsPeriod(request.policy()).id(store.serverTimeMillis());
    for (int attempt = 0; attempt < PERIOD_ATTEMPTS; attempt++) {
      AdmitScriptCall call = AdmitScriptCall.of(request, checks, periodId, "o", "0", LimiterOptions.DEFAULTS);
      List<?> reply = AdmitScriptCall.alone((List<?>) store.runScript(source, sha, call.keys(), call.args()));
      long status = ((Number) reply.get(0)).longValue();
      if (status == AdmitScriptCall.WRONG_PERIOD) {
        periodId = String.valueOf(reply.get(2));
        continue;
      }
      List<Long> numbers = reply.stream().map(word -> ((Number) word).longValue()).toList();
      return new Peeked(numbers.get(1), AdmitScriptCall.outcomes(numbers, checks.size()));
    }
    throw new IllegalStateException("the statistics period kept changing between calls (Redis clock jumping?)");
  }
}
