package dev.ratekeeper.sidecar.limiter;

import dev.ratekeeper.policy.compile.CompiledGlobal;
import dev.ratekeeper.policy.compile.CompiledModel;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledRun;
import dev.ratekeeper.policy.compile.CompiledTier;
import dev.ratekeeper.policy.compile.Rate;
import dev.ratekeeper.policy.keys.RedisKeys;
import dev.ratekeeper.policy.periods.CalendarPeriod;
import java.util.ArrayList;
import java.util.List;

/**
 * Which checks a request runs, on which counter keys (docs/redis-keys.md). Pure: the same request
 * always yields the same checks in the same order (the order of {@link Dimension}, tier shares right
 * before the global rate they share), so reconcile can name again every counter admit charged. The
 * keys come from {@link PolicyKeys}, built once per revision and user.
 */
public final class LimitPlan {
  /** Key suffixes of the counters, documented in docs/redis-keys.md. */
  static final String REQUESTS = "req";
  static final String TOKENS_PER_MINUTE = "tpm";
  static final String TOKENS_PER_HOUR = "tph";
  static final String TOKENS_PER_DAY = "tpd";
  static final String CONCURRENCY = "conc";
  static final String BUDGET = "budget";
  /** Prefix of a run's counters: {@code u:<user>:run:<run>:req|tokens|budget}. */
  static final String RUN = "run";
  static final String SHARE_REQUESTS = "greq";
  static final String SHARE_TOKENS = "gtpm";

  private LimitPlan() {}

  public static List<Check> checks(AdmitRequest request) {
    CompiledPolicy policy = request.policy();
    PolicyKeys keys = PolicyKeys.of(policy);
    CompiledTier tier = request.tier();
    CompiledModel model = request.metered() ? request.model() : null;
    CompiledGlobal global = policy.global() == null ? CompiledGlobal.UNLIMITED : policy.global();
    String user = request.user();
    long tokens = request.reservedTokens();
    long cost = request.reservedCostMicros();
    boolean metered = request.metered();
    long calls = request.calls();
    PolicyKeys.UserKeys userKeys = keys.user(user);
    List<Check> checks = new ArrayList<>(16);

    if (tier.requests() != null) {
      checks.add(Check.bucket(Dimension.TIER_REQUESTS_PER_MINUTE, false, userKeys.requests, tier.requests(),
          calls));
    }
    if (metered) {
      if (tier.tokensPerMinute() != null) {
        checks.add(Check.bucket(Dimension.TIER_TOKENS_PER_MINUTE, false, userKeys.tokensPerMinute,
            tier.tokensPerMinute(), tokens));
      }
      if (tier.tokensPerHour() != null) {
        checks.add(Check.quota(Dimension.TIER_TOKENS_PER_HOUR, userKeys.tokensPerHour, tier.tokensPerHour(),
            CalendarPeriod.HOUR, tokens));
      }
      if (tier.tokensPerDay() != null) {
        checks.add(Check.quota(Dimension.TIER_TOKENS_PER_DAY, userKeys.tokensPerDay, tier.tokensPerDay(),
            CalendarPeriod.DAY, tokens));
      }
      if (tier.concurrency() != null) {
        checks.add(Check.lease(Dimension.TIER_CONCURRENCY, userKeys.concurrency, tier.concurrency()));
      }
      if (tier.budget() != null) {
        checks.add(Check.quota(Dimension.BUDGET, userKeys.budget, tier.budget().microUsd(),
            CalendarPeriod.of(tier.budget().period()), cost));
      }
      CompiledRun run = tier.run();
      if (run != null && request.run() != null) {
        String runKey = userKeys.prefix + RUN + ":" + RedisKeys.encode(request.run()) + ":";
        if (run.requests() != null) {
          checks.add(Check.runQuota(Dimension.RUN_REQUESTS, runKey + REQUESTS, run.requests(),
              run.idleTimeoutMs(), calls));
        }
        if (run.tokens() != null) {
          checks.add(Check.runQuota(Dimension.RUN_TOKENS, runKey + "tokens", run.tokens(),
              run.idleTimeoutMs(), tokens));
        }
        if (run.budgetMicros() != null) {
          checks.add(Check.runQuota(Dimension.RUN_BUDGET, runKey + BUDGET, run.budgetMicros(),
              run.idleTimeoutMs(), cost));
        }
      }
    }
    if (model != null) {
      String[] modelKeys = keys.model(model.pattern());
      if (model.requests() != null) {
        checks.add(Check.bucket(Dimension.MODEL_REQUESTS_PER_MINUTE, false, modelKeys[0],
            model.requests(), calls));
      }
      if (model.tokensPerMinute() != null) {
        checks.add(Check.bucket(Dimension.MODEL_TOKENS_PER_MINUTE, false,
            modelKeys[1], model.tokensPerMinute(), tokens));
      }
      if (model.tokensPerDay() != null) {
        checks.add(Check.quota(Dimension.MODEL_TOKENS_PER_DAY, modelKeys[2],
            model.tokensPerDay(), CalendarPeriod.DAY, tokens));
      }
    }
    if (global.requests() != null) {
      addShared(checks, Dimension.GLOBAL_REQUESTS_PER_MINUTE, global.requests(), tier,
          keys.tierShares(tier.name())[0], keys.globalRequests, calls);
    }
    if (metered && global.tokensPerMinute() != null) {
      addShared(checks, Dimension.GLOBAL_TOKENS_PER_MINUTE, global.tokensPerMinute(), tier,
          keys.tierShares(tier.name())[1], keys.globalTokens, tokens);
    }
    if (metered && global.budget() != null) {
      checks.add(Check.quota(Dimension.GLOBAL_BUDGET, keys.globalBudget, global.budget().microUsd(),
          CalendarPeriod.of(global.budget().period()), cost));
    }
    return checks;
  }

  /** A global rate, preceded by the tier's {@code globalShare} of it when that share is below 100 %. */
  private static void addShared(List<Check> checks, Dimension dimension, Rate rate, CompiledTier tier, String shareKey,
      String globalKey, long cost) {
    if (tier.globalShare() < 100) {
      checks.add(Check.bucket(dimension, true, shareKey, rate.share(tier.globalShare()), cost));
    }
    checks.add(Check.bucket(dimension, false, globalKey, rate, cost));
  }

  /** The period usage statistics are kept per: the global budget's, else monthly. */
  public static CalendarPeriod statsPeriod(CompiledPolicy policy) {
    CompiledGlobal global = policy.global();
    return global == null || global.budget() == null ? CalendarPeriod.MONTH : CalendarPeriod.of(global.budget().period());
  }
}
