package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.limiter.TestPolicy.budget;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.perMinute;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.policy;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.tier;
import static dev.ratekeeper.sidecar.store.EmbeddedRedis.await;
import static dev.ratekeeper.sidecar.store.EmbeddedRedis.call;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.ratekeeper.policy.api.BudgetPeriod;
import dev.ratekeeper.policy.api.StoreFailureMode;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.metrics.SidecarMetrics;
import dev.ratekeeper.sidecar.resilience.ResilientLimiterStore;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.RedisAPI;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * One admission whose answer comes too late, with Redis otherwise healthy: that request alone gets
 * the failure mode, the store is not marked down, and whatever the script charged for it is given
 * back exactly once when the answer lands. The delay is injected between the store and a real Redis
 * (the script runs at once; its answer is held back), and the answer deadline is shortened.
 */
class LateAnswerTest {
  private static final String P = "rk:{team-a/agents}:";
  private static final long DEADLINE_MS = 100;
  private static final long DELAY_MS = 400;
  @RegisterExtension
  static final ConnectedRedis REDIS = new ConnectedRedis();
  /** The answer to the next call is held back this long (once). */
  private final AtomicLong admitDelayMs = new AtomicLong();
  private RedisLimiterStore redisStore;

  @BeforeEach
  void fresh() {
    call(REDIS.connection(), Command.FLUSHALL);
    redisStore = RedisLimiterStore.create(this::delayed, LimiterOptions.DEFAULTS, RedisTime.server());
    await(redisStore.loadScripts());
  }

  private Future<Response> delayed(Request request) {
    long delay = admitDelayMs.getAndSet(0); // the next call only: the admission under test
    Future<Response> sent = REDIS.connection().send(request);
    if (delay == 0) {
      return sent;
    }
    Promise<Response> late = Promise.promise();
    sent.onComplete(result -> REDIS.vertx().setTimer(delay, t -> late.handle(result)));
    return late.future();
  }

  @Test
  void failClosedRefusesThatRequestAloneAndGivesBackWhatItWasCharged() {
    CompiledPolicy p = policyFor(StoreFailureMode.FailClosed);
    ResilientLimiterStore store = resilient(p);
    admitDelayMs.set(DELAY_MS);
    assertThatThrownBy(() -> await(store.admit(metered(p, "late"))))
        .isInstanceOf(ResilientLimiterStore.StoreUnavailableException.class);
    assertThat(store.up()).as("one late answer is not an outage").isTrue();
    await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
      assertThat(store.journaled()).isZero();
      assertThat(counters()).as("every counter given back").isNotEmpty()
          .allSatisfy((key, value) -> assertThat(value).as(key).endsWith(":0"));
    });
    assertThat(call(REDIS.connection(), Command.ZCARD, P + "u:alice:conc").toLong()).as("lease").isZero();
    assertThat(call(REDIS.connection(), Command.HGET, stats(), "requests").toString()).isEqualTo("0");

    assertThat(await(store.admit(metered(p, "on-time"))).allowed()).as("the next answer is used").isTrue();
    store.close();
  }

  @Test
  void localFallbackServesThatRequestAndChargesItsUsageOnce() {
    CompiledPolicy p = policyFor(StoreFailureMode.LocalFallback);
    ResilientLimiterStore store = resilient(p);
    admitDelayMs.set(DELAY_MS);
    AdmitRequest late = metered(p, "late");
    assertThat(await(store.admit(late)).allowed()).as("served by the local store").isTrue();
    await(store.reconcile(new ReconcileRequest(late, 300, 1_200)));
    await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
      assertThat(store.journaled()).isZero();
      Map<String, String> counters = counters();
      assertThat(counters.get(P + "u:alice:tpd")).as("the usage, not the reservation").endsWith(":300");
      assertThat(counters.get(P + "u:alice:budget")).endsWith(":1200");
      assertThat(counters.get(P + "g:budget")).endsWith(":1200");
    });
    assertThat(call(REDIS.connection(), Command.HGET, stats(), "requests").toString())
        .as("one request, not the late admission and the replay").isEqualTo("1");
    assertThat(store.up()).isTrue();
    store.close();
  }

  /** The statistics of this month (the global budget's period), on Redis' clock, which is this machine's. */
  private static String stats() {
    return P + "stats:" + dev.ratekeeper.policy.periods.CalendarPeriod.MONTH.id(System.currentTimeMillis());
  }

  private ResilientLimiterStore resilient(CompiledPolicy p) {
    return new ResilientLimiterStore(REDIS.vertx(), redisStore, RedisAPI.api(REDIS.connection()), () -> p, new SidecarMetrics(),
        DEADLINE_MS, dev.ratekeeper.sidecar.time.SidecarClock.SYSTEM);
  }

  private static CompiledPolicy policyFor(StoreFailureMode mode) {
    return policy()
        .tier(tier("free").requests(perMinute(10, 5)).tokensPerMinute(perMinute(10_000, 10_000)).tokensPerDay(100_000)
            .concurrency(2).budget(1_000_000, BudgetPeriod.Daily))
        .global(perMinute(100, 100), perMinute(100_000, 100_000), budget(50_000_000, BudgetPeriod.Monthly))
        .onStoreUnavailable(mode)
        .build();
  }

  private static AdmitRequest metered(CompiledPolicy p, String id) {
    return AdmitRequest.metered(p, id, "alice", p.tier("free").orElseThrow(), null, 800, 4_000);
  }

  /** Every rate and quota counter of the policy (records, statistics and leases left out). */
  private static Map<String, String> counters() {
    Map<String, String> out = new TreeMap<>();
    EmbeddedRedis.snapshot(REDIS.connection(), P).forEach((key, value) -> {
      if (!key.startsWith(P + "r:") && !key.startsWith(P + "stats:") && !key.startsWith(P + "top:")
          && !key.endsWith(":conc")) {
        out.put(key, value);
      }
    });
    return out;
  }
}
