package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.limiter.TestPolicy.budget;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.model;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.perMinute;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.policy;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.tier;
import static dev.ratekeeper.sidecar.store.EmbeddedRedis.await;
import static dev.ratekeeper.sidecar.store.EmbeddedRedis.call;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.BudgetPeriod;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.limiter.ReconcileResult;
import io.vertx.core.Future;
import io.vertx.redis.client.Command;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The same calls sent as batches ({@link ScriptBatcher}) and one by one, on a pinned clock and a real
 * redis-server: the same decisions, the same reconcile results, the same keys with the same values
 * and expiries. Random mixes of tiers, models, tier shares, leases, a run's counts, shadow and peek
 * calls and repeated request ids; one reconcile in three uses exactly its reservation.
 */
class BatchEquivalenceTest {
  private static final String P = "rk:{team-a/agents}:";
  private static final long T0 = Instant.parse("2026-11-23T22:50:00Z").toEpochMilli();
  @RegisterExtension
  static final ConnectedRedis REDIS = new ConnectedRedis();

  private final CompiledPolicy policy = policy()
      .tier(tier("free").requests(perMinute(20, 6)).tokensPerMinute(perMinute(20_000, 8_000)).tokensPerHour(60_000)
          .tokensPerDay(150_000).concurrency(3).budget(200_000, BudgetPeriod.Daily).globalShare(60)
          .run(100_000L, 30_000L, 5L, 60_000))
      .tier(tier("premium").requests(perMinute(60)).tokensPerMinute(perMinute(50_000)).concurrency(5)
          .budget(1_000_000, BudgetPeriod.Weekly))
      .model(model("m1", perMinute(30, 10), perMinute(40_000), 400_000L))
      .global(perMinute(50, 20), perMinute(60_000), budget(2_000_000, BudgetPeriod.Monthly))
      .build();

  private List<AdmitRequest> admissions(long seed) {
    Random random = new Random(seed);
    String[] users = {"alice", "bob", "dave"};
    List<AdmitRequest> out = new ArrayList<>();
    for (int i = 0; i < 60; i++) {
      String user = users[random.nextInt(users.length)];
      var tier = policy.tier(user.equals("dave") ? "premium" : "free").orElseThrow();
      String id = random.nextInt(15) == 0 && i > 0 ? "r" + (i - 1) : "r" + i; // sometimes the previous id again
      AdmitRequest r = random.nextInt(8) == 0 ? AdmitRequest.requestsOnly(policy, id, user, tier)
          : AdmitRequest.metered(policy, id, user, tier, random.nextBoolean() ? policy.model("m1").orElse(null) : null,
              random.nextInt(6000), random.nextInt(40_000));
      if (random.nextInt(6) == 0 && !user.equals("dave")) {
        r = r.withRun("run" + random.nextInt(2));
      }
      int mode = random.nextInt(10);
      if (mode == 0) {
        r = r.withShadow(true);
      } else if (mode == 1) {
        r = r.asPeek();
      }
      out.add(r);
    }
    return out;
  }

  private record Outcome(List<String> decisions, Map<String, String> keys, Map<String, Long> ttls,
      List<String> reconciles, Map<String, String> keysAfter, Map<String, Long> ttlsAfter, int scriptCalls) {}

  private Outcome run(List<AdmitRequest> requests, boolean batched, long seed) {
    call(REDIS.connection(), Command.FLUSHALL);
    HoldingSender gate = new HoldingSender(REDIS.connection());
    RedisLimiterStore store = RedisLimiterStore.create(gate, LimiterOptions.DEFAULTS, RedisTime.pinned(() -> T0));
    await(store.loadScripts());
    AdmitRequest learn = AdmitRequest.requestsOnly(policy, "learn", "carol", policy.tier("free").orElseThrow());
    await(store.admit(learn));
    List<Future<Decision>> futures = new ArrayList<>();
    if (batched) {
      gate.hold();
      for (AdmitRequest r : requests) {
        futures.add(store.admit(r));
      }
      gate.release();
    } else {
      for (AdmitRequest r : requests) {
        Future<Decision> f = store.admit(r);
        f.toCompletionStage().toCompletableFuture().handle((a, b) -> null).join();
        futures.add(f);
      }
    }
    List<String> decisions = new ArrayList<>();
    for (Future<Decision> f : futures) {
      f.toCompletionStage().toCompletableFuture().handle((a, b) -> null).join();
      decisions.add(f.succeeded() ? f.result().toString() : f.cause().getClass().getSimpleName());
    }
    Map<String, String> keys = EmbeddedRedis.snapshot(REDIS.connection(), P);
    Map<String, Long> ttls = ttls(keys);
    // reconcile every allowed metered admission (some with actual == reservation), batched or not
    Random random = new Random(seed * 31);
    List<Future<ReconcileResult>> results = new ArrayList<>();
    List<ReconcileRequest> recs = new ArrayList<>();
    for (int i = 0; i < requests.size(); i++) {
      Future<Decision> f = futures.get(i);
      AdmitRequest r = requests.get(i);
      if (f.succeeded() && f.result().allowed() && r.metered() && !r.peek()) {
        recs.add(random.nextInt(3) == 0 ? new ReconcileRequest(r, r.reservedTokens(), r.reservedCostMicros())
            : new ReconcileRequest(r, random.nextInt(8000), random.nextInt(50_000)));
      }
    }
    if (batched) {
      gate.hold();
      recs.forEach(q -> results.add(store.reconcile(q)));
      gate.release();
    } else {
      for (ReconcileRequest q : recs) {
        Future<ReconcileResult> f = store.reconcile(q);
        f.toCompletionStage().toCompletableFuture().handle((a, b) -> null).join();
        results.add(f);
      }
    }
    List<String> rs = new ArrayList<>();
    for (Future<ReconcileResult> f : results) {
      f.toCompletionStage().toCompletableFuture().handle((a, b) -> null).join();
      rs.add(f.succeeded() ? f.result().toString() : f.cause().toString());
    }
    Map<String, String> after = EmbeddedRedis.snapshot(REDIS.connection(), P);
    return new Outcome(decisions, keys, ttls, rs, after, ttls(after), gate.scriptCalls());
  }

  private static Map<String, Long> ttls(Map<String, String> keys) {
    Map<String, Long> out = new TreeMap<>();
    for (String key : keys.keySet()) {
      out.put(key, call(REDIS.connection(), Command.PTTL, key).toLong());
    }
    return out;
  }

  @ParameterizedTest
  @ValueSource(longs = {1, 2, 3, 4, 5})
  void batchedDecidesAndLeavesWhatOneByOneDoes(long seed) {
    List<AdmitRequest> requests = admissions(seed);
    Outcome one = run(requests, false, seed);
    Outcome batch = run(requests, true, seed);
    assertThat(batch.scriptCalls()).as("batches formed").isLessThan(one.scriptCalls() / 4);
    for (int i = 0; i < requests.size(); i++) {
      assertThat(batch.decisions().get(i)).as("seed %d admission %d %s", seed, i, requests.get(i))
          .isEqualTo(one.decisions().get(i));
    }
    assertThat(batch.keys()).isEqualTo(one.keys());
    assertThat(batch.reconciles()).isEqualTo(one.reconciles());
    assertThat(batch.keysAfter()).isEqualTo(one.keysAfter());
    for (var e : one.ttlsAfter().entrySet()) {
      long other = batch.ttlsAfter().get(e.getKey());
      assertThat(Math.abs(other - e.getValue())).as("ttl of %s: %d vs %d", e.getKey(), e.getValue(), other)
          .isLessThan(3_000);
    }
  }
}
