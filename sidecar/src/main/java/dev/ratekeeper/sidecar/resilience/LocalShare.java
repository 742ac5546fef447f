package dev.ratekeeper.sidecar.resilience;

import dev.ratekeeper.policy.compile.CompiledBudget;
import dev.ratekeeper.policy.compile.CompiledGlobal;
import dev.ratekeeper.policy.compile.CompiledModel;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledRun;
import dev.ratekeeper.policy.compile.CompiledTier;
import dev.ratekeeper.policy.compile.Rate;

/**
 * A policy with every limit divided among {@code sidecars} live sidecars, for enforcing in memory
 * while Redis is away (LocalFallback): each sidecar then admits its share, so the fleet together
 * stays near the limit. Every limit keeps at least 1.
 */
final class LocalShare {
  private LocalShare() {}

  static CompiledPolicy of(CompiledPolicy policy, int sidecars) {
    if (sidecars <= 1) {
      return policy;
    }
    return new CompiledPolicy(policy.schemaVersion(), policy.id(), policy.revision(), policy.mode(), policy.identity(),
        policy.defaultTier(), policy.defaultMaxTokens(),
        policy.tiers().stream().map(t -> tier(t, sidecars)).toList(), policy.users(),
        policy.models().stream().map(m -> model(m, sidecars)).toList(),
        new CompiledGlobal(rate(policy.global().requests(), sidecars), rate(policy.global().tokensPerMinute(), sidecars),
            budget(policy.global().budget(), sidecars)),
        policy.warnAtPercent(), policy.clampMaxTokens(), policy.upstreams(), policy.unmeteredPaths(),
        policy.onStoreUnavailable(), policy.allowUnmeterable(), policy.refuseUnpricedModels());
  }

  private static CompiledTier tier(CompiledTier t, int n) {
    return new CompiledTier(t.name(), t.priority(), rate(t.requests(), n), rate(t.tokensPerMinute(), n),
        div(t.tokensPerHour(), n), div(t.tokensPerDay(), n), t.maxPerRequest(),
        t.concurrency() == null ? null : (int) Math.max(1, t.concurrency() / n), budget(t.budget(), n), t.models(),
        t.globalShare(), t.maxQueueWaitMs(), run(t.run(), n));
  }

  private static CompiledRun run(CompiledRun run, int n) {
    return run == null ? null
        : new CompiledRun(div(run.budgetMicros(), n), div(run.tokens(), n), div(run.requests(), n), run.idleTimeoutMs());
  }

  private static CompiledModel model(CompiledModel m, int n) {
    return new CompiledModel(m.pattern(), rate(m.requests(), n), rate(m.tokensPerMinute(), n), div(m.tokensPerDay(), n),
        m.pricing(), m.fallback());
  }

  private static Rate rate(Rate rate, int n) {
    return rate == null ? null
        : new Rate(Math.max(1, rate.limit() / n), rate.periodMs(), Math.max(1, rate.burst() / n));
  }

  private static Long div(Long value, int n) {
    return value == null ? null : Math.max(1, value / n);
  }

  private static CompiledBudget budget(CompiledBudget budget, int n) {
    return budget == null ? null : new CompiledBudget(Math.max(1, budget.microUsd() / n), budget.period());
  }
}
