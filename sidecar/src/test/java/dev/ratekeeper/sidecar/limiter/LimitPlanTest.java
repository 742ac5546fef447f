package dev.ratekeeper.sidecar.limiter;

import static dev.ratekeeper.sidecar.limiter.TestPolicy.budget;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.model;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.perMinute;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.policy;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.tier;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.BudgetPeriod;
import dev.ratekeeper.policy.compile.Compilation;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.PolicyCompiler;
import dev.ratekeeper.policy.compile.PolicyDocument;
import dev.ratekeeper.policy.periods.CalendarPeriod;
import java.util.List;
import org.junit.jupiter.api.Test;

class LimitPlanTest {
  private static final String P = "rk:{team-a/agents}:";

  private final CompiledPolicy full = policy()
      .tier(tier("free").requests(perMinute(10, 5)).tokensPerMinute(perMinute(20_000)).tokensPerHour(50_000)
          .tokensPerDay(200_000).concurrency(2).budget(1_000_000, BudgetPeriod.Weekly).globalShare(50))
      .model(model("claude-*", perMinute(1000), perMinute(80_000), 2_000_000L))
      .global(perMinute(500), perMinute(400_000), budget(5_000_000_000L, BudgetPeriod.Monthly))
      .build();

  @Test
  void meteredRequestsRunEveryDimensionInOrder() {
    AdmitRequest request = AdmitRequest.metered(full, "r1", "alice", full.tier("free").orElseThrow(),
        full.model("claude-haiku-4-5").orElseThrow(), 1500, 4200);
    List<Check> checks = LimitPlan.checks(request);
    assertThat(checks).extracting(Check::dimension).containsExactly(
        Dimension.TIER_REQUESTS_PER_MINUTE, Dimension.TIER_TOKENS_PER_MINUTE, Dimension.TIER_TOKENS_PER_HOUR,
        Dimension.TIER_TOKENS_PER_DAY, Dimension.TIER_CONCURRENCY, Dimension.BUDGET,
        Dimension.MODEL_REQUESTS_PER_MINUTE, Dimension.MODEL_TOKENS_PER_MINUTE, Dimension.MODEL_TOKENS_PER_DAY,
        Dimension.GLOBAL_REQUESTS_PER_MINUTE, Dimension.GLOBAL_REQUESTS_PER_MINUTE,
        Dimension.GLOBAL_TOKENS_PER_MINUTE, Dimension.GLOBAL_TOKENS_PER_MINUTE, Dimension.GLOBAL_BUDGET);
    assertThat(checks).extracting(Check::key).containsExactly(
        P + "u:alice:req", P + "u:alice:tpm", P + "u:alice:tph", P + "u:alice:tpd", P + "u:alice:conc",
        P + "u:alice:budget", P + "m:claude-*:req", P + "m:claude-*:tpm", P + "m:claude-*:tpd",
        P + "t:free:greq", P + "g:req", P + "t:free:gtpm", P + "g:tpm", P + "g:budget");
    assertThat(checks).extracting(Check::cost).containsExactly(1L, 1500L, 1500L, 1500L, 1L, 4200L, 1L, 1500L, 1500L,
        1L, 1L, 1500L, 1500L, 4200L);
    Check share = checks.get(9);
    assertThat(share.tierShare()).isTrue();
    assertThat(share.limit()).isEqualTo(250);
    assertThat(share.burst()).isEqualTo(250);
    assertThat(checks.get(5).period()).isEqualTo(CalendarPeriod.WEEK);
    assertThat(LimitPlan.statsPeriod(full)).isEqualTo(CalendarPeriod.MONTH);
  }

  @Test
  void requestsOnlyRunsTheRequestRatesAlone() {
    AdmitRequest request = AdmitRequest.requestsOnly(full, "r1", "alice", full.tier("free").orElseThrow());
    assertThat(LimitPlan.checks(request)).extracting(Check::key)
        .containsExactly(P + "u:alice:req", P + "t:free:greq", P + "g:req");
  }

  @Test
  void unlimitedDimensionsAreNotChecked() {
    CompiledPolicy open = policy().tier(tier("free")).build();
    AdmitRequest request = AdmitRequest.metered(open, "r1", "alice", open.tier("free").orElseThrow(), null, 10, 10);
    assertThat(LimitPlan.checks(request)).isEmpty();
  }

  @Test
  void compiledYamlPoliciesPlanTheSameWay() throws Exception {
    PolicyDocument document = PolicyDocument.parse("""
        apiVersion: ratekeeper.dev/v1alpha1
        kind: RateLimitPolicy
        metadata: {name: agents, namespace: team-a}
        spec:
          defaultTier: free
          tiers:
          - name: free
            requests: {perMinute: 10, burst: 5}
            tokens: {perMinute: 20000, perDay: 200000}
            concurrency: 2
            budget: {usd: "1.00", period: Daily}
          models:
          - name: claude-haiku-4-5
            requests: {perMinute: 1000}
            pricing: {inputPerMillion: "1.00", outputPerMillion: "5.00"}
          global:
            requests: {perMinute: 500}
            budget: {usd: "5000.00", period: Weekly}
        """);
    Compilation compilation = PolicyCompiler.compile(document.id(), document.spec());
    assertThat(compilation.violations()).isEmpty();
    CompiledPolicy policy = compilation.policy();
    AdmitRequest request = AdmitRequest.metered(policy, "r1", "alice", policy.tier("free").orElseThrow(),
        policy.model("claude-haiku-4-5").orElseThrow(), 100, 10);
    List<Check> checks = LimitPlan.checks(request);
    assertThat(checks).extracting(Check::dimension).containsExactly(Dimension.TIER_REQUESTS_PER_MINUTE,
        Dimension.TIER_TOKENS_PER_MINUTE, Dimension.TIER_TOKENS_PER_DAY, Dimension.TIER_CONCURRENCY,
        Dimension.BUDGET, Dimension.MODEL_REQUESTS_PER_MINUTE, Dimension.GLOBAL_REQUESTS_PER_MINUTE,
        Dimension.GLOBAL_BUDGET);
    assertThat(checks.get(0).burst()).isEqualTo(5);
    assertThat(checks.get(4).limit()).isEqualTo(1_000_000);
    assertThat(LimitPlan.statsPeriod(policy)).isEqualTo(CalendarPeriod.WEEK);
  }
}
