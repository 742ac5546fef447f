package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.limiter.TestPolicy.budget;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.perMinute;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.policy;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.tier;
import static dev.ratekeeper.sidecar.store.EmbeddedRedis.await;
import static dev.ratekeeper.sidecar.store.EmbeddedRedis.call;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ratekeeper.policy.api.BudgetPeriod;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.Dimension;
import dev.ratekeeper.sidecar.limiter.DuplicateRequestException;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.limiter.ReconcileResult;
import dev.ratekeeper.sidecar.store.RedisLimiterStore.SettleResult;
import io.vertx.redis.client.Command;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * settle.lua on a real Redis, on a pinned clock: a refund gives back everything an admission charged
 * (requests included) exactly once; a charge adds quotas and budgets in full and rate buckets only up
 * to empty, exactly once; a refund before the admission runs stops it.
 */
class SettleScriptTest {
  private static final String P = "rk:{team-a/agents}:";
  private static final long NOW = 1_795_428_000_000L; // 2026-11-23T10:00:00Z
  @RegisterExtension
  static final ConnectedRedis REDIS = new ConnectedRedis();
  private final AtomicLong clock = new AtomicLong(NOW);
  private RedisLimiterStore store;

  /** Every kind of counter: request and token buckets, hour and day quotas, a lease, budgets, global rates. */
  private final CompiledPolicy policy = policy()
      .tier(tier("free").requests(perMinute(10, 5)).tokensPerMinute(perMinute(1_000, 1_000)).tokensPerDay(10_000)
          .concurrency(2).budget(1_000_000, BudgetPeriod.Daily))
      .global(perMinute(100, 100), perMinute(100_000, 100_000), budget(50_000_000, BudgetPeriod.Monthly))
      .build();

  @BeforeEach
  void fresh() {
    call(REDIS.connection(), Command.FLUSHALL);
    store = RedisLimiterStore.create(REDIS.connection(), LimiterOptions.DEFAULTS, RedisTime.pinned(clock::get));
    await(store.loadScripts());
  }

  @Test
  void aRefundGivesBackEveryCounterTheAdmissionChargedOnce() {
    AdmitRequest admitted = metered("late", 700, 2_000);
    assertThat(await(store.admit(admitted)).allowed()).isTrue();
    assertThat(counters().values()).as("charged").anyMatch(v -> !v.endsWith(":0"));

    assertThat(await(store.settle(admitted, 0, 0, false))).isEqualTo(new SettleResult(true, false));
    assertThat(counters()).as("every bucket and quota back at zero").allSatisfy((key, value) ->
        assertThat(value).as(key).endsWith(":0"));
    assertThat(call(REDIS.connection(), Command.ZCARD, P + "u:alice:conc").toLong()).as("lease").isZero();
    assertThat(stat("requests")).isZero();

    Map<String, String> after = counters();
    assertThat(await(store.settle(admitted, 0, 0, false))).isEqualTo(new SettleResult(false, false));
    assertThat(counters()).as("a second refund changes nothing").isEqualTo(after);
    assertThat(await(store.reconcile(new ReconcileRequest(admitted, 700, 2_000))).outcome())
        .as("a refunded admission is not reconciled").isEqualTo(ReconcileResult.Outcome.UNKNOWN);
    assertThat(counters()).isEqualTo(after);
  }

  @Test
  void aRequestsOnlyAdmissionIsRefundedToo() {
    AdmitRequest counted = AdmitRequest.requestsOnly(policy, "free-endpoint", "alice", policy.tier("free").orElseThrow());
    assertThat(await(store.admit(counted)).allowed()).isTrue();
    assertThat(await(store.settle(counted, 0, 0, false)).refunded()).isTrue();
    assertThat(counters()).allSatisfy((key, value) -> assertThat(value).as(key).endsWith(":0"));
  }

  @Test
  void aRefundThatArrivesBeforeTheAdmissionStopsIt() {
    AdmitRequest admitted = metered("still-on-its-way", 700, 2_000);
    assertThat(await(store.settle(admitted, 0, 0, false))).isEqualTo(new SettleResult(false, false));
    assertThatThrownBy(() -> await(store.admit(admitted))).isInstanceOf(DuplicateRequestException.class);
    assertThat(counters()).as("nothing charged").isEmpty();
  }

  @Test
  void aChargeAddsQuotasAndBudgetsInFullAndBucketsOnlyUpToEmpty() {
    AdmitRequest servedLocally = metered("outage", 0, 0);
    assertThat(await(store.settle(servedLocally, 5_000, 3_000, true))).isEqualTo(new SettleResult(false, true));

    Map<String, String> counters = counters();
    assertThat(counters.get(P + "u:alice:tpd")).isEqualTo(day() + ":5000");
    assertThat(counters.get(P + "u:alice:budget")).isEqualTo(day() + ":3000");
    assertThat(counters.get(P + "g:budget")).isEqualTo("2026-11:3000");
    assertThat(counters.get(P + "u:alice:tpm")).as("5,000 tokens into a 1,000-token bucket: full, no debt")
        .isEqualTo(NOW + ":" + 1_000 * 60_000L);
    assertThat(counters.get(P + "u:alice:req")).as("one request").isEqualTo(NOW + ":60000");
    assertThat(stat("requests")).isEqualTo(1);
    assertThat(stat("spendMicros")).isEqualTo(3_000);

    assertThat(await(store.settle(servedLocally, 5_000, 3_000, true))).isEqualTo(new SettleResult(false, false));
    assertThat(counters()).as("a second charge changes nothing").isEqualTo(counters);

    // the next call waits for its own tokens to refill, not for 4,000 tokens of outage debt
    Decision next = await(store.admit(metered("after", 100, 0)));
    assertThat(next.limitedBy()).containsExactly(Dimension.TIER_TOKENS_PER_MINUTE);
    assertThat(next.retryAfterMs()).isEqualTo(100 * 60_000L / 1_000);
  }

  @Test
  void aChargeAfterAHeldAdmissionReplacesItsReservation() {
    AdmitRequest admitted = metered("late-then-local", 800, 4_000);
    assertThat(await(store.admit(admitted)).allowed()).isTrue();
    assertThat(await(store.settle(admitted, 100, 500, true))).isEqualTo(new SettleResult(true, true));
    Map<String, String> counters = counters();
    assertThat(counters.get(P + "u:alice:tpd")).isEqualTo(day() + ":100");
    assertThat(counters.get(P + "u:alice:budget")).isEqualTo(day() + ":500");
    assertThat(counters.get(P + "u:alice:req")).isEqualTo(NOW + ":60000");
    assertThat(call(REDIS.connection(), Command.ZCARD, P + "u:alice:conc").toLong()).as("lease released").isZero();
    assertThat(stat("requests")).isEqualTo(1);
    assertThat(await(store.settle(admitted, 0, 0, false))).as("a refund after the charge")
        .isEqualTo(new SettleResult(false, false));
    assertThat(counters()).isEqualTo(counters);
  }

  private AdmitRequest metered(String id, long tokens, long costMicros) {
    return AdmitRequest.metered(policy, id, "alice", policy.tier("free").orElseThrow(), null, tokens, costMicros);
  }

  private static String day() {
    return "2026-11-23";
  }

  private long stat(String field) {
    var reply = call(REDIS.connection(), Command.HGET, P + "stats:2026-11", field);
    return reply == null ? 0 : reply.toLong();
  }

  /** Every counter of the policy (records, statistics and leases left out). */
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
