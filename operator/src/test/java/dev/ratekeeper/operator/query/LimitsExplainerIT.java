package dev.ratekeeper.operator.query;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ratekeeper.operator.store.RedisPolicyStore;
import dev.ratekeeper.operator.store.RedisSettings;
import dev.ratekeeper.operator.testing.EmbeddedRedis;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.PolicyCompiler;
import dev.ratekeeper.policy.compile.PolicyDocument;
import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.AdmitScriptCall;
import dev.ratekeeper.sidecar.limiter.LimitPlan;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/**
 * Explanations from Redis state that admissions left, admitted by the sidecars' own script
 * ({@code admit.lua} through {@link AdmitScriptCall}, charging) on a real redis-server: exact
 * figures for every kind of counter, and peeking writes nothing. Rates refill one a minute here, so
 * what the test charged is still there when it explains.
 */
class LimitsExplainerIT {
  static final PolicyId ID = new PolicyId("team-a", "agents");
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: agents, namespace: team-a}
      spec:
        tiers:
        - name: free
          requests: {perMinute: 1, burst: 5}
          tokens: {perHour: 10000}
          concurrency: 2
          budget: {usd: "1.00", period: Monthly}
          globalShare: 50
          run: {requests: 10, idleTimeout: 30m}
        - name: pro
          requests: {perMinute: 1, burst: 100}
        users:
        - {id: bob, tier: pro}
        models:
        - name: claude-haiku-*
          requests: {perMinute: 1, burst: 10}
          pricing: {inputPerMillion: "1.00", outputPerMillion: "5.00"}
        global:
          requests: {perMinute: 2, burst: 100}
          budget: {usd: "10.00", period: Monthly}
        defaultTier: free
      """;

  static EmbeddedRedis redis;
  static RedisPolicyStore store;
  static CompiledPolicy policy;
  static LimitsExplainer explainer;

  @BeforeAll
  static void admit() throws Exception {
    redis = new EmbeddedRedis();
    store = new RedisPolicyStore(RedisSettings.parse(redis.url(), null), Duration.ofDays(7));
    policy = PolicyCompiler.compile(ID, PolicyDocument.parse(POLICY).spec()).policy();
    store.publish(policy);
    explainer = new LimitsExplainer(store);
    // alice (free by default) makes two calls to claude-haiku-4-5 in her run task-7, each reserving 1000 tokens
    // and $0.002, still in flight
    for (String id : List.of("r1", "r2")) {
      AdmitRequest call = AdmitRequest.metered(policy, id, "alice", policy.tier("free").orElseThrow(),
          policy.model("claude-haiku-4-5").orElseThrow(), 1000, 2000).withRun("task-7");
      List<?> reply = admitOnce(call);
      assertThat(((Number) reply.get(2)).longValue()).as("admitted and charged").isEqualTo(1);
    }
  }

  static List<?> admitOnce(AdmitRequest call) {
    String source = AdmitScriptCall.scriptSource();
    String period = LimitPlan.statsPeriod(policy).id(store.serverTimeMillis());
    for (int attempt = 0; attempt < 2; attempt++) {
      AdmitScriptCall script = AdmitScriptCall.of(call, LimitPlan.checks(call), period, "o", "0",
          LimiterOptions.DEFAULTS);
      List<?> reply = AdmitScriptCall.alone((List<?>) store.runScript(source,
          "0000000000000000000000000000000000000000", script.keys(), script.args()));
      if (((Number) reply.get(0)).longValue() == AdmitScriptCall.WRONG_PERIOD) {
        period = String.valueOf(reply.get(2));
        continue;
      }
      return reply;
    }
    throw new AssertionError("statistics period kept changing");
  }

  @AfterAll
  static void stop() {
    store.close();
    redis.close();
  }

  static Explanation.Limit limit(Explanation e, String dimension, String scope) {
    return e.limits().stream().filter(l -> l.dimension().equals(dimension) && l.scope().equals(scope)).findFirst()
        .orElseThrow(() -> new AssertionError("no " + dimension + " / " + scope + " in " + e.limits()));
  }

  @Test
  void everyLimitOfTheUserWithWhatIsUsedAndWhatBlocks() {
    Explanation e = explainer.explain(ID, "alice", null, null);

    assertThat(e.tier()).isEqualTo("free");
    assertThat(e.tierSource()).isEqualTo("defaultTier");
    assertThat(e.revision()).isEqualTo(policy.revision());
    assertThat(e.limits()).extracting(l -> l.dimension() + " / " + l.scope()).containsExactly(
        "tier.requests.perMinute / user", "tier.tokens.perHour / user", "tier.concurrency / user", "budget / user",
        "global.requests.perMinute / tier free (globalShare)", "global.requests.perMinute / policy",
        "global.budget / policy", "model.requests.perMinute / model claude-haiku-*");
    assertThat(e.blockedBy()).containsExactly("tier.concurrency");

    Explanation.Limit requests = limit(e, "tier.requests.perMinute", "user");
    assertThat(List.of(requests.limit(), requests.perMinute(), requests.used(), requests.remaining()))
        .containsExactly(5L, 1L, 2L, 3L);
    assertThat(requests.blocking()).isFalse();
    assertThat(requests.resetMs()).as("two requests at one a minute").isBetween(110_000L, 120_000L);

    Explanation.Limit tokens = limit(e, "tier.tokens.perHour", "user");
    assertThat(List.of(tokens.limit(), tokens.used(), tokens.remaining())).containsExactly(10_000L, 2000L, 8000L);
    assertThat(tokens.period()).isEqualTo("hour");
    assertThat(tokens.resetMs()).isBetween(1L, 3_600_000L);

    Explanation.Limit concurrency = limit(e, "tier.concurrency", "user");
    assertThat(List.of(concurrency.limit(), concurrency.used(), concurrency.remaining())).containsExactly(2L, 2L, 0L);
    assertThat(concurrency.blocking()).isTrue();
    assertThat(concurrency.waitMs()).as("the concurrency retry hint").isEqualTo(1000);

    Explanation.Limit budget = limit(e, "budget", "user");
    assertThat(List.of(budget.limit(), budget.used(), budget.remaining())).containsExactly("1.00", "0.004", "0.996");
    assertThat(budget.unit()).isEqualTo("usd");

    Explanation.Limit share = limit(e, "global.requests.perMinute", "tier free (globalShare)");
    assertThat(List.of(share.limit(), share.perMinute(), share.used())).containsExactly(50L, 1L, 2L);
    Explanation.Limit global = limit(e, "global.requests.perMinute", "policy");
    assertThat(List.of(global.limit(), global.perMinute(), global.used())).containsExactly(100L, 2L, 2L);
    assertThat(limit(e, "global.budget", "policy").used()).isEqualTo("0.004");
    Explanation.Limit model = limit(e, "model.requests.perMinute", "model claude-haiku-*");
    assertThat(List.of(model.limit(), model.used(), model.remaining())).containsExactly(10L, 2L, 8L);
  }

  @Test
  void aRunsCapsWhenTheRunIsNamed() {
    Explanation inRun = explainer.explain(ID, "alice", null, null, "task-7");
    assertThat(inRun.run()).isEqualTo("task-7");
    Explanation.Limit runRequests = limit(inRun, "run.requests", "run");
    assertThat(List.of(runRequests.limit(), runRequests.used(), runRequests.remaining())).containsExactly(10L, 2L, 8L);
    assertThat(runRequests.period()).isEqualTo("run");
    assertThat(runRequests.resetMs()).as("the idle timeout").isEqualTo(1_800_000);
    assertThat(limit(explainer.explain(ID, "alice", null, null, "task-8"), "run.requests", "run").used())
        .as("another run starts from nothing").isEqualTo(0L);
    assertThat(explainer.explain(ID, "alice", null, null).limits()).noneMatch(l -> l.scope().equals("run"));
  }

  @Test
  void anotherUserSharesOnlyTheSharedCounters() {
    Explanation e = explainer.explain(ID, "bob", null, null);
    assertThat(e.tier()).isEqualTo("pro");
    assertThat(e.tierSource()).isEqualTo("users[]");
    assertThat(e.blockedBy()).isEmpty();
    assertThat(limit(e, "tier.requests.perMinute", "user").used()).isEqualTo(0L);
    assertThat(limit(e, "global.requests.perMinute", "policy").used()).isEqualTo(2L);
    assertThat(limit(e, "model.requests.perMinute", "model claude-haiku-*").used()).isEqualTo(2L);
    assertThat(e.limits()).noneMatch(l -> l.scope().startsWith("tier pro"));
  }

  @Test
  void lookingWritesNothing() {
    FleetView fleet = new FleetView(store, Duration.ofSeconds(30));
    try (Jedis jedis = new Jedis("127.0.0.1", redis.port())) {
      // a sidecar gone for two hours: the operator's refresh prunes it, a look does not
      jedis.zadd(new dev.ratekeeper.policy.keys.RedisKeys(ID).sidecars(), store.serverTimeMillis() - 7_200_000,
          "gone-sidecar");
    }
    Map<String, String> before = snapshot();
    for (int i = 0; i < 5; i++) {
      explainer.explain(ID, "alice", null, null);
      explainer.explain(ID, "carol", "pro", "claude-haiku-4-5");
      fleet.top(ID);
      assertThat(fleet.enforcement(ID).sidecars()).extracting(FleetView.Sidecar::id).containsExactly("gone-sidecar");
    }
    assertThat(snapshot()).isEqualTo(before);
  }

  @Test
  void aModelATierOrAPolicyThatIsNotThere() {
    Explanation other = explainer.explain(ID, "alice", null, "gpt-4o");
    assertThat(other.note()).contains("no models[] entry governs \"gpt-4o\"");
    assertThat(other.limits()).noneMatch(l -> l.dimension().startsWith("model."));
    assertThatThrownBy(() -> explainer.explain(ID, "alice", "gold", null))
        .isInstanceOfSatisfying(LimitsExplainer.ExplainException.class, x -> assertThat(x.status()).isEqualTo(400))
        .hasMessageContaining("no tier \"gold\"");
    assertThatThrownBy(() -> explainer.explain(new PolicyId("team-a", "nothing"), "alice", null, null))
        .isInstanceOfSatisfying(LimitsExplainer.ExplainException.class, x -> assertThat(x.status()).isEqualTo(404));
  }

  /** Every key of the policy with its type, value and whether it has a TTL. */
  static Map<String, String> snapshot() {
    Map<String, String> all = new TreeMap<>();
    try (Jedis jedis = new Jedis("127.0.0.1", redis.port())) {
      for (String key : jedis.keys("rk:*")) {
        String type = jedis.type(key);
        String value = switch (type) {
          case "string" -> jedis.get(key);
          case "hash" -> new TreeMap<>(jedis.hgetAll(key)).toString();
          case "zset" -> jedis.zrangeWithScores(key, 0, -1).toString();
          default -> type;
        };
        all.put(key, type + " " + value + (jedis.pttl(key) > 0 ? " (ttl)" : ""));
      }
    }
    return all;
  }
}
