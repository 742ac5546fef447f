package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.limiter.TestPolicy.budget;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.model;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.perMinute;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.policy;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.tier;
import static dev.ratekeeper.sidecar.store.EmbeddedRedis.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.BudgetPeriod;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.limiter.ReconcileResult;
import io.vertx.redis.client.Command;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Lua scripts and their Java twin, side by side: the same random mix of admissions,
 * reconciles, shadow and requests-only calls, on the same clock (with jumps across hours, days and
 * weeks), must yield equal decisions and results, and equal counters.
 *
 * <p>Keys are compared where both stores hold them: the in-memory store drops a key when its TTL
 * passes on the test clock, while Redis expires keys on the wall clock, which barely moves.
 * Reservations are therefore only reconciled while younger than their TTL on the test clock.
 */
class StoreParityTest {
  private static final long T0 = Instant.parse("2026-11-23T22:50:00Z").toEpochMilli();
  private static final String PREFIX = "rk:{team-a/agents}:";

  @RegisterExtension
  static final ConnectedRedis REDIS = new ConnectedRedis();

  private final CompiledPolicy policy = policy()
      .tier(tier("free").requests(perMinute(20, 5)).tokensPerMinute(perMinute(20_000, 8_000)).tokensPerHour(60_000)
          .tokensPerDay(150_000).concurrency(3).budget(200_000, BudgetPeriod.Daily).globalShare(60))
      .tier(tier("premium").requests(perMinute(60)).tokensPerMinute(perMinute(50_000)).concurrency(5)
          .budget(1_000_000, BudgetPeriod.Weekly))
      .model(model("m1", perMinute(30, 10), perMinute(40_000), 400_000L))
      .model(model("m2", null, perMinute(10_000), null))
      .global(perMinute(50, 20), perMinute(60_000), budget(2_000_000, BudgetPeriod.Monthly))
      .build();

  private record Admitted(AdmitRequest request, long atMs) {}

  @ParameterizedTest
  @ValueSource(longs = {1, 2, 3})
  void luaAndJavaAgree(long seed) {
    EmbeddedRedis.call(REDIS.connection(), Command.FLUSHALL);
    AtomicLong clock = new AtomicLong(T0);
    LimiterOptions options = LimiterOptions.DEFAULTS;
    InMemoryLimiterStore memory = new InMemoryLimiterStore(options, clock::get);
    RedisLimiterStore lua = RedisLimiterStore.create(REDIS.connection(), options, RedisTime.pinned(clock::get));
    Random random = new Random(seed);
    List<Admitted> held = new ArrayList<>();
    List<Admitted> reconciled = new ArrayList<>();
    String[] users = {"alice", "bob", "carol", "dave"};
    String[] models = {"m1", "m2", "other"};
    int denials = 0;

    for (int step = 0; step < 400; step++) {
      int roll = random.nextInt(100);
      if (roll < 70) {
        String user = users[random.nextInt(users.length)];
        // a user's tier is fixed, as the policy fixes it (a key written at one rate and read at another
        // expires by the writer's rate, on the test clock in memory but the wall clock in Redis)
        var tier = policy.tier(user.equals("dave") ? "premium" : "free").orElseThrow();
        AdmitRequest request = random.nextInt(8) == 0
            ? AdmitRequest.requestsOnly(policy, "r" + step, user, tier)
            : AdmitRequest.metered(policy, "r" + step, user, tier,
                policy.model(models[random.nextInt(models.length)]).orElse(null), random.nextInt(6000),
                random.nextInt(40_000));
        if (random.nextInt(10) == 0) {
          request = request.withShadow(true);
        }
        Decision expected = await(memory.admit(request));
        Decision actual = await(lua.admit(request));
        assertThat(actual).as("step %d admit %s", step, request).isEqualTo(expected);
        if (!expected.allowed()) {
          denials++;
        } else if (request.metered()) {
          held.add(new Admitted(request, clock.get()));
        }
      } else if (roll < 92 && !held.isEmpty()) {
        Admitted a = held.remove(random.nextInt(held.size()));
        if (clock.get() - a.atMs() < options.reservationTtlMs()) {
          // one in three uses exactly its reservation: the counters it leaves unchanged are not written
          ReconcileRequest request = random.nextInt(3) == 0
              ? new ReconcileRequest(a.request(), a.request().reservedTokens(), a.request().reservedCostMicros())
              : new ReconcileRequest(a.request(), random.nextInt(8000), random.nextInt(50_000));
          ReconcileResult expected = await(memory.reconcile(request));
          assertThat(await(lua.reconcile(request))).as("step %d reconcile", step).isEqualTo(expected);
          assertThat(expected.outcome()).isEqualTo(ReconcileResult.Outcome.RECONCILED);
          reconciled.add(new Admitted(a.request(), clock.get()));
        }
      } else if (!reconciled.isEmpty()) {
        Admitted a = reconciled.get(random.nextInt(reconciled.size()));
        if (clock.get() - a.atMs() < options.reconciledTtlMs()) {
          ReconcileRequest again = ReconcileRequest.release(a.request());
          ReconcileResult expected = await(memory.reconcile(again));
          assertThat(expected.outcome()).isEqualTo(ReconcileResult.Outcome.ALREADY_RECONCILED);
          assertThat(await(lua.reconcile(again))).isEqualTo(expected);
        }
      }
      clock.addAndGet(random.nextInt(100) < 3 ? random.nextLong(30 * 3_600_000L) : random.nextInt(4000));

      Map<String, String> inMemory = memory.snapshot();
      Map<String, String> inRedis = EmbeddedRedis.snapshot(REDIS.connection(), PREFIX);

      assertThat(inRedis.keySet()).as("step %d", step).containsAll(inMemory.keySet());
      for (var entry : inMemory.entrySet()) {
        assertThat(inRedis.get(entry.getKey())).as("step %d key %s", step, entry.getKey()).isEqualTo(entry.getValue());
      }
    }
    assertThat(denials).as("the mix exercised denials").isGreaterThan(20);
  }
}
