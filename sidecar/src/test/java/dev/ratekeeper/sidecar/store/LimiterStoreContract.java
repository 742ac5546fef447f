package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.limiter.Dimension.BUDGET;
import static dev.ratekeeper.sidecar.limiter.Dimension.GLOBAL_REQUESTS_PER_MINUTE;
import static dev.ratekeeper.sidecar.limiter.Dimension.GLOBAL_TOKENS_PER_MINUTE;
import static dev.ratekeeper.sidecar.limiter.Dimension.MODEL_REQUESTS_PER_MINUTE;
import static dev.ratekeeper.sidecar.limiter.Dimension.TIER_CONCURRENCY;
import static dev.ratekeeper.sidecar.limiter.Dimension.TIER_REQUESTS_PER_MINUTE;
import static dev.ratekeeper.sidecar.limiter.Dimension.TIER_TOKENS_PER_DAY;
import static dev.ratekeeper.sidecar.limiter.Dimension.TIER_TOKENS_PER_MINUTE;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.budget;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.model;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.perMinute;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.policy;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.tier;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import dev.ratekeeper.policy.api.BudgetPeriod;
import dev.ratekeeper.policy.compile.CompiledModel;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.BudgetStatus;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.Dimension;
import dev.ratekeeper.sidecar.limiter.DimensionStatus;
import dev.ratekeeper.sidecar.limiter.DuplicateRequestException;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.limiter.ReconcileResult;
import dev.ratekeeper.sidecar.limiter.TestPolicy;
import io.vertx.core.Future;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The limiter's behaviour, run against every store (InMemoryLimiterStoreTest, RedisLimiterStoreTest)
 * on a clock the test moves: no sleeping. Counters are compared through {@link #snapshot()}, which
 * both stores render identically, so the expected key contents below hold for Lua and Java alike.
 */
abstract class LimiterStoreContract {
  /** Monday 2026-11-23 10:00 UTC (ISO week 2026-W48). */
  static final long T0 = Instant.parse("2026-11-23T10:00:00Z").toEpochMilli();
  static final String P = "rk:{team-a/agents}:";
  static final long MINUTE = 60_000;
  static final long HOUR = 3_600_000;
  static final long DAY = 86_400_000;

  protected final AtomicLong clock = new AtomicLong(T0);
  protected LimiterStore store;

  /** A store on {@code clockMs} with no state from earlier tests. */
  protected abstract LimiterStore newStore(LimiterOptions options, LongSupplier clockMs);

  /** Every key of the test policy, rendered as {@link InMemoryLimiterStore#snapshot()} does. */
  protected abstract Map<String, String> snapshot();

  @BeforeEach
  void freshStore() {
    store = newStore(LimiterOptions.DEFAULTS, clock::get);
  }

  // ---------------------------------------------------------------- rates

  @Test
  void burstThenOneEverySixSeconds() {
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(10, 5))).build();
    for (int i = 4; i >= 0; i--) {
      Decision d = admit(metered(p, "alice", 0, 0));
      assertThat(d.allowed()).isTrue();
      assertThat(d.remainingRequests()).isEqualTo(i);
    }
    Decision denied = admit(metered(p, "alice", 0, 0));
    assertThat(denied.allowed()).isFalse();
    assertThat(denied.limitedBy()).containsExactly(TIER_REQUESTS_PER_MINUTE);
    assertThat(denied.limitedByHeader()).isEqualTo("tier.requests.perMinute");
    assertThat(denied.retryAfterMs()).isEqualTo(6000);
    assertThat(denied.retryAfterSeconds()).isEqualTo(6);
    assertThat(denied.retryHelpsSoon()).isTrue();
    assertThat(denied.neverPassable()).isFalse();

    clock.set(T0 + 5999);
    assertThat(admit(metered(p, "alice", 0, 0)).retryAfterMs()).isEqualTo(1);
    clock.set(T0 + 6000);
    assertThat(admit(metered(p, "alice", 0, 0)).allowed()).isTrue();
    assertThat(admit(metered(p, "alice", 0, 0)).retryAfterMs()).isEqualTo(6000);

    // 30 s after the last admission the bucket is full again: 5 at once, not 6
    clock.set(T0 + 36_000);
    assertThat(admitted(p, "alice", 6)).isEqualTo(5);
    // other users have buckets of their own
    assertThat(admitted(p, "bob", 6)).isEqualTo(5);
  }

  @Test
  void ratesThatDoNotDivideAMinuteAreExact() {
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(7, 7))).build();
    assertThat(admitted(p, "alice", 8)).isEqualTo(7);
    assertThat(admit(metered(p, "alice", 0, 0)).retryAfterMs()).isEqualTo(8572); // ceil(60000 / 7)

    clock.set(T0 + 59_999); // 6.9999 refilled: 6 fit, the 7th in 1 ms
    assertThat(admitted(p, "alice", 7)).isEqualTo(6);
    assertThat(admit(metered(p, "alice", 0, 0)).retryAfterMs()).isEqualTo(1);

    clock.set(T0);
    assertThat(admitted(p, "bob", 7)).isEqualTo(7);
    clock.set(T0 + 60_000); // exactly 7 refilled (an 8571 ms interval would give 8, 8572 would give 6)
    assertThat(admitted(p, "bob", 8)).isEqualTo(7);
  }

  @Test
  void tenMinutesAtTheExactRetryTimesAdmitsExactlyTheRateWithoutDrift() {
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(7, 7))).build();
    List<Long> admittedAt = new ArrayList<>();
    while (clock.get() <= T0 + 10 * MINUTE) {
      Decision d = admit(metered(p, "alice", 0, 0));
      if (d.allowed()) {
        admittedAt.add(clock.get() - T0);
      } else {
        clock.addAndGet(d.retryAfterMs());
      }
    }
    assertThat(admittedAt).hasSize(7 + 70);
    for (int k = 1; k <= 70; k++) {
      assertThat(admittedAt.get(6 + k)).as("admission %d after the burst", k).isEqualTo((k * 60_000L + 6) / 7);
    }
  }

  @Test
  void tokenBucketsChargeTheReservation() {
    CompiledPolicy p = policy().tier(tier("free").tokensPerMinute(perMinute(10_000))).build();
    Decision first = admit(metered(p, "alice", 6000, 0));
    assertThat(first.allowed()).isTrue();
    assertThat(first.remainingTokens()).isEqualTo(4000);
    Decision second = admit(metered(p, "alice", 6000, 0));
    assertThat(second.limitedBy()).containsExactly(TIER_TOKENS_PER_MINUTE);
    assertThat(second.retryAfterMs()).isEqualTo(12_000); // 2000 tokens at 10000/min
    assertThat(second.remainingTokens()).isEqualTo(4000);
  }

  // ---------------------------------------------------------------- every dimension

  @ParameterizedTest
  @EnumSource(Dimension.class)
  void everyDimensionDeniesUnderItsOwnName(Dimension dimension) {
    TestPolicy.Tier free = tier("free");
    TestPolicy builder = policy();
    CompiledModel m = model("m", null, null, null);
    long expectedWait;
    boolean helpsSoon = true;
    switch (dimension) {
      case TIER_REQUESTS_PER_MINUTE -> {
        free.requests(perMinute(1, 1));
        expectedWait = MINUTE;
      }
      case TIER_TOKENS_PER_MINUTE -> {
        free.tokensPerMinute(perMinute(1000));
        expectedWait = 12_000;
      }
      case TIER_TOKENS_PER_HOUR -> {
        free.tokensPerHour(1000);
        expectedWait = HOUR;
        helpsSoon = false;
      }
      case TIER_TOKENS_PER_DAY -> {
        free.tokensPerDay(1000);
        expectedWait = 14 * HOUR;
        helpsSoon = false;
      }
      case TIER_CONCURRENCY -> {
        free.concurrency(1);
        expectedWait = 1000;
      }
      case BUDGET -> {
        free.budget(1000, BudgetPeriod.Monthly);
        expectedWait = 7 * DAY + 14 * HOUR; // to 2026-12-01
        helpsSoon = false;
      }
      case MODEL_REQUESTS_PER_MINUTE -> {
        m = model("m", perMinute(1, 1), null, null);
        expectedWait = MINUTE;
      }
      case MODEL_TOKENS_PER_MINUTE -> {
        m = model("m", null, perMinute(1000), null);
        expectedWait = 12_000;
      }
      case MODEL_TOKENS_PER_DAY -> {
        m = model("m", null, null, 1000L);
        expectedWait = 14 * HOUR;
        helpsSoon = false;
      }
      case GLOBAL_REQUESTS_PER_MINUTE -> {
        builder.global(perMinute(1, 1), null, null);
        expectedWait = MINUTE;
      }
      case GLOBAL_TOKENS_PER_MINUTE -> {
        builder.global(null, perMinute(1000), null);
        expectedWait = 12_000;
      }
      case GLOBAL_BUDGET -> {
        builder.global(null, null, budget(1000, BudgetPeriod.Weekly));
        expectedWait = 6 * DAY + 14 * HOUR; // to Monday 2026-11-30
        helpsSoon = false;
      }
      case RUN_REQUESTS -> {
        free.run(null, null, 1L, HOUR);
        expectedWait = HOUR; // the run is forgotten an idle timeout after its last call
        helpsSoon = false;
      }
      case RUN_TOKENS -> {
        free.run(null, 1000L, null, HOUR);
        expectedWait = HOUR;
        helpsSoon = false;
      }
      case RUN_BUDGET -> {
        free.run(1000L, null, null, HOUR);
        expectedWait = HOUR;
        helpsSoon = false;
      }
      default -> throw new IllegalArgumentException(dimension.toString());
    }
    CompiledPolicy p = builder.model(m).tier(free).build();

    assertThat(admit(metered(p, "alice", "m", 600, 600).withRun("r")).allowed()).isTrue();
    Decision denied = admit(metered(p, "alice", "m", 600, 600).withRun("r"));
    assertThat(denied.allowed()).isFalse();
    assertThat(denied.limitedBy()).containsExactly(dimension);
    assertThat(denied.limitedByHeader()).isEqualTo(dimension.wireName());
    assertThat(denied.retryAfterMs()).isEqualTo(expectedWait);
    assertThat(denied.retryHelpsSoon()).isEqualTo(helpsSoon);
    assertThat(denied.neverPassable()).isFalse();
    assertThat(denied.dimensions()).filteredOn(DimensionStatus::blocking)
        .extracting(DimensionStatus::dimension, DimensionStatus::waitMs)
        .containsExactly(tuple(dimension, expectedWait));
  }

  // ---------------------------------------------------------------- all or nothing

  @Test
  void aDenialOnOneDimensionLeavesEveryOtherCounterAsItWas() {
    CompiledPolicy p = policy()
        .tier(tier("free").requests(perMinute(5, 5)).tokensPerMinute(perMinute(10_000)).tokensPerHour(50_000)
            .tokensPerDay(100_000).concurrency(3).budget(1_000_000, BudgetPeriod.Monthly))
        .model(model("m", perMinute(1, 1), perMinute(100_000), 1_000_000L))
        .global(perMinute(100), perMinute(100_000), budget(10_000_000, BudgetPeriod.Monthly))
        .build();
    assertThat(admit(metered(p, "alice", "m", 1000, 1000)).allowed()).isTrue();
    Map<String, String> before = counters();
    assertThat(before).hasSize(1 + 12); // the reservation record and 12 counters

    AdmitRequest refused = metered(p, "alice", "m", 1000, 1000);
    Decision denied = admit(refused);
    assertThat(denied.limitedBy()).containsExactly(MODEL_REQUESTS_PER_MINUTE);
    assertThat(counters()).isEqualTo(before);
    assertThat(reconcile(new ReconcileRequest(refused, 1, 1)).outcome()).isEqualTo(ReconcileResult.Outcome.UNKNOWN);

    // the tier's own counters still hold what one admission left: 4 requests, 2 leases
    Decision other = admit(metered(p, "alice", "unlisted-model", 1000, 1000));
    assertThat(other.allowed()).isTrue();
    assertThat(status(other, TIER_REQUESTS_PER_MINUTE).remaining()).isEqualTo(3);
    assertThat(status(other, TIER_CONCURRENCY).remaining()).isEqualTo(1);
    assertThat(other.userBudget().usedMicros()).isEqualTo(2000);
  }

  @Test
  void neverPassableRequestsChargeNothing() {
    CompiledPolicy p = policy()
        .tier(tier("free").tokensPerMinute(perMinute(1000)).tokensPerDay(5000).budget(1000, BudgetPeriod.Daily))
        .tier(tier("blocked").concurrency(0))
        .build();
    Decision overBurst = admit(metered(p, "alice", 1001, 0));
    assertThat(overBurst.allowed()).isFalse();
    assertThat(overBurst.neverPassable()).isTrue();
    assertThat(overBurst.retryHelpsSoon()).isFalse();
    assertThat(overBurst.limitedBy()).containsExactly(TIER_TOKENS_PER_MINUTE);

    Decision overEverything = admit(metered(p, "alice", 6000, 1001));
    assertThat(overEverything.limitedBy()).containsExactly(TIER_TOKENS_PER_MINUTE, TIER_TOKENS_PER_DAY, BUDGET);
    assertThat(overEverything.neverPassable()).isTrue();

    Decision noSlots = admit(new AdmitRequest(p, id(), "bob", p.tier("blocked").orElseThrow(), null,
        AdmitRequest.Scope.METERED, 1, 0, false));
    assertThat(noSlots.limitedBy()).containsExactly(TIER_CONCURRENCY);
    assertThat(noSlots.neverPassable()).isTrue();
    assertThat(counters()).isEmpty();
    assertThat(snapshot()).containsEntry(P + "stats:2026-11", "{rejected=3}");

    assertThat(admit(metered(p, "alice", 1000, 1000)).allowed()).isTrue();
  }

  @Test
  void blockingDimensionsComeLongestWaitFirst() {
    CompiledPolicy p = policy()
        .tier(tier("free").requests(perMinute(1, 1)).tokensPerMinute(perMinute(1000)).concurrency(1))
        .tier(tier("budgeted").requests(perMinute(1, 1)).tokensPerMinute(perMinute(1000)).concurrency(1)
            .budget(1000, BudgetPeriod.Daily))
        .build();
    assertThat(admit(metered(p, "alice", 600, 600)).allowed()).isTrue();
    Decision d = admit(metered(p, "alice", 600, 600));
    assertThat(d.limitedBy()).containsExactly(TIER_REQUESTS_PER_MINUTE, TIER_TOKENS_PER_MINUTE, TIER_CONCURRENCY);
    assertThat(d.limitedByHeader()).isEqualTo("tier.requests.perMinute,tier.tokens.perMinute,tier.concurrency");
    assertThat(d.retryAfterMs()).isEqualTo(MINUTE); // when all three could pass
    assertThat(d.retryHelpsSoon()).isTrue();

    AdmitRequest budgeted = new AdmitRequest(p, id(), "bob", p.tier("budgeted").orElseThrow(), null,
        AdmitRequest.Scope.METERED, 600, 600, false);
    assertThat(admit(budgeted).allowed()).isTrue();
    Decision withBudget = admit(new AdmitRequest(p, id(), "bob", budgeted.tier(), null, AdmitRequest.Scope.METERED, 600,
        600, false));
    assertThat(withBudget.limitedBy()).containsExactly(BUDGET, TIER_REQUESTS_PER_MINUTE, TIER_TOKENS_PER_MINUTE,
        TIER_CONCURRENCY);
    assertThat(withBudget.retryAfterMs()).isEqualTo(14 * HOUR);
    assertThat(withBudget.retryHelpsSoon()).isFalse();

    // a never-passable dimension leads; the wait is still that of the passable ones
    Decision never = admit(metered(p, "alice", 2000, 0));
    assertThat(never.limitedBy()).containsExactly(TIER_TOKENS_PER_MINUTE, TIER_REQUESTS_PER_MINUTE, TIER_CONCURRENCY);
    assertThat(never.neverPassable()).isTrue();
    assertThat(never.retryAfterMs()).isEqualTo(MINUTE);
  }

  @Test
  void waitsOverAMinuteDoNotHelpSoon() {
    CompiledPolicy p = policy().tier(tier("free").tokensPerMinute(perMinute(1000, 2000))).build();
    assertThat(admit(metered(p, "alice", 2000, 0)).allowed()).isTrue();
    Decision d = admit(metered(p, "alice", 1500, 0));
    assertThat(d.retryAfterMs()).isEqualTo(90_000);
    assertThat(d.retryHelpsSoon()).isFalse();
    Decision soon = admit(metered(p, "alice", 1000, 0));
    assertThat(soon.retryAfterMs()).isEqualTo(60_000);
    assertThat(soon.retryHelpsSoon()).isTrue();
  }

  // ---------------------------------------------------------------- reconcile

  @Test
  void reconcileRefundsAndChargesExtraOnEveryChargedCounter() {
    CompiledPolicy p = policy()
        .tier(tier("free").tokensPerMinute(perMinute(10_000)).tokensPerDay(100_000).concurrency(2)
            .budget(1_000_000, BudgetPeriod.Monthly))
        .global(null, perMinute(100_000), budget(10_000_000, BudgetPeriod.Monthly))
        .build();
    AdmitRequest r1 = metered(p, "alice", 5000, 5000);
    assertThat(admit(r1).remainingTokens()).isEqualTo(5000);
    ReconcileResult refund = reconcile(new ReconcileRequest(r1, 1000, 1200));
    assertThat(refund.outcome()).isEqualTo(ReconcileResult.Outcome.RECONCILED);
    assertThat(refund.tokenDelta()).isEqualTo(-4000);
    assertThat(refund.costDeltaMicros()).isEqualTo(-3800);
    assertThat(counters()).containsEntry(P + "u:alice:tpm", T0 + ":" + 1000 * MINUTE)
        .containsEntry(P + "u:alice:tpd", "2026-11-23:1000")
        .containsEntry(P + "u:alice:budget", "2026-11:1200")
        .containsEntry(P + "g:tpm", T0 + ":" + 1000 * MINUTE)
        .containsEntry(P + "g:budget", "2026-11:1200")
        .doesNotContainKey(P + "u:alice:conc");

    AdmitRequest r2 = metered(p, "alice", 2000, 100);
    Decision second = admit(r2);
    assertThat(second.remainingTokens()).isEqualTo(7000);
    assertThat(second.userBudget().usedMicros()).isEqualTo(1300);
    ReconcileResult extra = reconcile(new ReconcileRequest(r2, 6000, 9000));
    assertThat(extra.tokenDelta()).isEqualTo(4000);
    assertThat(extra.costDeltaMicros()).isEqualTo(8900);
    assertThat(counters()).containsEntry(P + "u:alice:tpm", T0 + ":" + 7000 * MINUTE)
        .containsEntry(P + "u:alice:tpd", "2026-11-23:7000")
        .containsEntry(P + "u:alice:budget", "2026-11:10200")
        .containsEntry(P + "g:budget", "2026-11:10200");

    // a refund never takes a counter below zero: the minute bucket drained meanwhile
    AdmitRequest r3 = metered(p, "alice", 3000, 0);
    admit(r3);
    clock.addAndGet(MINUTE);
    reconcile(ReconcileRequest.release(r3));
    assertThat(counters()).containsEntry(P + "u:alice:tpm", (T0 + MINUTE) + ":0")
        .containsEntry(P + "u:alice:tpd", "2026-11-23:7000");
  }

  @Test
  void reconcileIsIdempotent() {
    CompiledPolicy p = policy().tier(tier("free").tokensPerDay(100_000).concurrency(1)
        .budget(1_000_000, BudgetPeriod.Monthly)).build();
    AdmitRequest r1 = metered(p, "alice", 5000, 5000);
    admit(r1);
    assertThat(reconcile(new ReconcileRequest(r1, 1000, 1000)).outcome())
        .isEqualTo(ReconcileResult.Outcome.RECONCILED);
    Map<String, String> after = snapshot();
    ReconcileResult again = reconcile(new ReconcileRequest(r1, 9000, 9000));
    assertThat(again.outcome()).isEqualTo(ReconcileResult.Outcome.ALREADY_RECONCILED);
    assertThat(store.release(r1).toCompletionStage().toCompletableFuture().join().outcome())
        .isEqualTo(ReconcileResult.Outcome.ALREADY_RECONCILED);
    assertThat(snapshot()).isEqualTo(after);
    assertThat(reconcile(ReconcileRequest.release(metered(p, "alice", 1, 1))).outcome())
        .isEqualTo(ReconcileResult.Outcome.UNKNOWN);
  }

  @Test
  void aReconcileThatChangesNothingButTheRecordOnlyMarksItReconciled() {
    // request rates only: reconcile has no counter to touch, and an answer that used nothing no statistics
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(10, 10))).build();
    AdmitRequest quiet = metered(p, "alice", 0, 0);
    admit(quiet);
    Map<String, String> before = snapshot();
    assertThat(before).containsKey(P + "r:" + quiet.requestId());
    assertThat(reconcile(new ReconcileRequest(quiet, 0, 0))).isEqualTo(
        new ReconcileResult(ReconcileResult.Outcome.RECONCILED, 0, 0, T0));
    Map<String, String> expected = new TreeMap<>(before);
    expected.put(P + "r:" + quiet.requestId(), "done");
    assertThat(snapshot()).isEqualTo(expected);
    assertThat(reconcile(new ReconcileRequest(quiet, 0, 0)).outcome())
        .isEqualTo(ReconcileResult.Outcome.ALREADY_RECONCILED);
    assertThat(snapshot()).isEqualTo(expected);
    assertThat(reconcile(ReconcileRequest.release(metered(p, "alice", 0, 0))).outcome())
        .isEqualTo(ReconcileResult.Outcome.UNKNOWN);

    // the same policy, an answer that used tokens: reconciled in full, into the statistics
    clock.set(T0 + HOUR);
    AdmitRequest used = metered(p, "bob", 0, 0);
    admit(used);
    assertThat(reconcile(new ReconcileRequest(used, 120, 0)).outcome()).isEqualTo(ReconcileResult.Outcome.RECONCILED);
    assertThat(snapshot()).containsEntry(P + "top:2026-11:tokens", "{bob=120}")
        .containsEntry(P + "top:2026-11:tier", "{bob=free}");
    // an estimate is counted in the statistics even when it is 0
    AdmitRequest estimated = metered(p, "carol", 0, 0);
    admit(estimated);
    reconcile(new ReconcileRequest(estimated, 0, 0, true));
    assertThat(snapshot().get(P + "stats:2026-11")).contains("estimated=1");
    // a requests-only admission keeps its record for a refund: reconciling it changes nothing
    AdmitRequest unmetered = AdmitRequest.requestsOnly(p, id(), "dave", p.tier("free").orElseThrow());
    admit(unmetered);
    Map<String, String> counted = snapshot();
    assertThat(counted.get(P + "r:" + unmetered.requestId())).startsWith("counted ");
    assertThat(reconcile(ReconcileRequest.release(unmetered)).outcome()).isEqualTo(ReconcileResult.Outcome.UNKNOWN);
    assertThat(snapshot()).isEqualTo(counted);
  }

  @Test
  void aReconcileOfNothingStillReleasesTheLease() {
    CompiledPolicy p = policy().tier(tier("free").concurrency(1)).build();
    AdmitRequest first = metered(p, "alice", 0, 0);
    assertThat(admit(first).allowed()).isTrue();
    assertThat(admit(metered(p, "alice", 0, 0)).allowed()).isFalse();
    assertThat(reconcile(ReconcileRequest.release(first)).outcome()).isEqualTo(ReconcileResult.Outcome.RECONCILED);
    assertThat(admit(metered(p, "alice", 0, 0)).allowed()).isTrue();
  }

  @Test
  void aRequestIdCannotBeAdmittedTwice() {
    CompiledPolicy p = policy().tier(tier("free").concurrency(5)).build();
    AdmitRequest r1 = metered(p, "alice", 10, 0);
    admit(r1);
    assertThatThrownBy(() -> admit(r1)).isInstanceOf(DuplicateRequestException.class);
    assertThat(status(admit(metered(p, "alice", 10, 0)), TIER_CONCURRENCY).remaining()).isEqualTo(3);
  }

  // ---------------------------------------------------------------- calendar periods

  @Test
  void dailyBudgetStartsAgainAtMidnightUtc() {
    CompiledPolicy p = policy().tier(tier("free").budget(1000, BudgetPeriod.Daily)).build();
    assertThat(admit(metered(p, "alice", 0, 1000)).allowed()).isTrue();
    Decision denied = admit(metered(p, "alice", 0, 1));
    assertThat(denied.limitedBy()).containsExactly(BUDGET);
    assertThat(denied.retryAfterMs()).isEqualTo(14 * HOUR);
    assertThat(denied.retryHelpsSoon()).isFalse();
    assertThat(denied.userBudget()).isEqualTo(new BudgetStatus(1001, 1000, 14 * HOUR));

    clock.set(T0 + 14 * HOUR - 1);
    assertThat(admit(metered(p, "alice", 0, 1)).retryAfterMs()).isEqualTo(1);
    clock.set(T0 + 14 * HOUR);
    assertThat(admit(metered(p, "alice", 0, 1000)).allowed()).isTrue();
    assertThat(counters()).containsEntry(P + "u:alice:budget", "2026-11-24:1000");
  }

  @Test
  void weeklyBudgetStartsAgainOnMondayUtc() {
    CompiledPolicy p = policy().tier(tier("free")).global(null, null, budget(1000, BudgetPeriod.Weekly)).build();
    clock.set(Instant.parse("2026-11-29T23:59:59.999Z").toEpochMilli()); // Sunday
    assertThat(admit(metered(p, "alice", 0, 1000)).allowed()).isTrue();
    assertThat(counters()).containsEntry(P + "g:budget", "2026-W48:1000");
    Decision denied = admit(metered(p, "bob", 0, 1));
    assertThat(denied.limitedBy()).containsExactly(Dimension.GLOBAL_BUDGET);
    assertThat(denied.retryAfterMs()).isEqualTo(1);
    assertThat(denied.retryHelpsSoon()).isFalse();
    clock.incrementAndGet();
    assertThat(admit(metered(p, "bob", 0, 1000)).allowed()).isTrue();
    assertThat(counters()).containsEntry(P + "g:budget", "2026-W49:1000");

    // ISO years: 2027-01-01 (a Friday) is in week 53 of 2026
    clock.set(Instant.parse("2027-01-01T12:00:00Z").toEpochMilli());
    admit(metered(p, "bob", 0, 5));
    assertThat(counters()).containsEntry(P + "g:budget", "2026-W53:5");
    assertThat(snapshot()).containsKey(P + "stats:2026-W53");
  }

  @Test
  void monthlyBudgetStartsAgainOnTheFirstUtc() {
    CompiledPolicy p = policy().tier(tier("free").budget(1000, BudgetPeriod.Monthly)).build();
    clock.set(Instant.parse("2026-12-31T23:59:59.999Z").toEpochMilli());
    assertThat(admit(metered(p, "alice", 0, 1000)).allowed()).isTrue();
    Decision denied = admit(metered(p, "alice", 0, 1));
    assertThat(denied.retryAfterMs()).isEqualTo(1);
    clock.incrementAndGet();
    assertThat(admit(metered(p, "alice", 0, 1000)).allowed()).isTrue();
    assertThat(counters()).containsEntry(P + "u:alice:budget", "2027-01:1000");
    clock.set(Instant.parse("2028-02-29T12:00:00Z").toEpochMilli()); // leap day
    Decision leap = admit(metered(p, "alice", 0, 1));
    assertThat(leap.retryAfterMs()).isZero();
    assertThat(leap.userBudget().resetMs()).isEqualTo(12 * HOUR);
    assertThat(counters()).containsEntry(P + "u:alice:budget", "2028-02:1");
  }

  @Test
  void reconcileAfterRolloverChargesTheActualToTheNewPeriod() {
    CompiledPolicy p = policy().tier(tier("free").budget(1000, BudgetPeriod.Monthly).tokensPerHour(10_000)).build();
    clock.set(Instant.parse("2026-11-30T23:59:59Z").toEpochMilli());
    AdmitRequest r1 = metered(p, "alice", 5000, 1000);
    admit(r1);
    clock.set(Instant.parse("2026-12-01T00:00:01Z").toEpochMilli());
    reconcile(new ReconcileRequest(r1, 4000, 400));
    assertThat(counters()).containsEntry(P + "u:alice:budget", "2026-12:400")
        .containsEntry(P + "u:alice:tph", "2026-12-01T00:4000");
    assertThat(admit(metered(p, "alice", 0, 601)).limitedBy()).containsExactly(BUDGET);
    assertThat(admit(metered(p, "alice", 0, 600)).allowed()).isTrue();
  }

  @Test
  void hourlyTokenQuota() {
    CompiledPolicy p = policy().tier(tier("free").tokensPerHour(1000)).build();
    clock.set(T0 + 59 * MINUTE);
    assertThat(admit(metered(p, "alice", 1000, 0)).allowed()).isTrue();
    Decision denied = admit(metered(p, "alice", 1, 0));
    assertThat(denied.retryAfterMs()).isEqualTo(MINUTE);
    assertThat(denied.retryHelpsSoon()).isFalse(); // a calendar quota the reservation no longer fits
    clock.set(T0 + HOUR);
    assertThat(admit(metered(p, "alice", 1000, 0)).allowed()).isTrue();
    assertThat(counters()).containsEntry(P + "u:alice:tph", "2026-11-23T11:1000");
  }

  // ---------------------------------------------------------------- concurrency

  @Test
  void leasesExpireAfterTheirTtl() {
    CompiledPolicy p = policy().tier(tier("free").concurrency(1)).build();
    AdmitRequest r1 = metered(p, "alice", 1, 0);
    assertThat(admit(r1).allowed()).isTrue();
    Decision denied = admit(metered(p, "alice", 1, 0));
    assertThat(denied.limitedBy()).containsExactly(TIER_CONCURRENCY);
    assertThat(denied.retryAfterMs()).isEqualTo(1000);

    clock.set(T0 + 600_000 - 1);
    assertThat(admit(metered(p, "alice", 1, 0)).retryAfterMs()).isEqualTo(1);
    clock.set(T0 + 600_000);
    assertThat(admit(metered(p, "alice", 1, 0)).allowed()).isTrue();
    // reconciling the expired lease's request does not free the new one's slot
    assertThat(reconcile(ReconcileRequest.release(r1)).outcome()).isEqualTo(ReconcileResult.Outcome.RECONCILED);
    assertThat(admit(metered(p, "alice", 1, 0)).allowed()).isFalse();
  }

  @Test
  void leaseTtlIsConfigurable() {
    store = newStore(LimiterOptions.DEFAULTS.withLeaseTtlMs(5000), clock::get);
    CompiledPolicy p = policy().tier(tier("free").concurrency(1)).build();
    admit(metered(p, "alice", 1, 0));
    clock.set(T0 + 4999);
    assertThat(admit(metered(p, "alice", 1, 0)).retryAfterMs()).isEqualTo(1);
    clock.set(T0 + 5000);
    assertThat(admit(metered(p, "alice", 1, 0)).allowed()).isTrue();
  }

  @Test
  void releaseFreesTheSlotAndRefundsEverything() {
    CompiledPolicy p = policy().tier(tier("free").concurrency(1).tokensPerDay(1000)).build();
    AdmitRequest r1 = metered(p, "alice", 1000, 0);
    admit(r1);
    assertThat(admit(metered(p, "alice", 1, 0)).limitedBy()).containsExactly(TIER_TOKENS_PER_DAY, TIER_CONCURRENCY);
    ReconcileResult released = store.release(r1).toCompletionStage().toCompletableFuture().join();
    assertThat(released.tokenDelta()).isEqualTo(-1000);
    assertThat(admit(metered(p, "alice", 1000, 0)).allowed()).isTrue();
  }

  // ---------------------------------------------------------------- shares, scopes, modes

  @Test
  void globalShareCapsATiersUsersTogether() {
    CompiledPolicy p = policy()
        .tier(tier("free").globalShare(30))
        .tier(tier("premium"))
        .global(perMinute(10, 10), perMinute(10_000), null)
        .build();
    for (String user : List.of("u1", "u2", "u3")) {
      assertThat(admit(metered(p, "free", user, 1)).allowed()).isTrue();
    }
    Decision shareFull = admit(metered(p, "free", "u4", 1));
    assertThat(shareFull.limitedBy()).containsExactly(GLOBAL_REQUESTS_PER_MINUTE);
    assertThat(shareFull.retryAfterMs()).isEqualTo(20_000); // 3 per minute
    assertThat(shareFull.dimensions()).filteredOn(DimensionStatus::blocking)
        .extracting(DimensionStatus::tierShare).containsExactly(true);

    for (int i = 0; i < 7; i++) {
      assertThat(admit(metered(p, "premium", "p" + i, 1)).allowed()).isTrue();
    }
    Decision globalFull = admit(metered(p, "premium", "p8", 1));
    assertThat(globalFull.limitedBy()).containsExactly(GLOBAL_REQUESTS_PER_MINUTE);
    assertThat(globalFull.retryAfterMs()).isEqualTo(6000);
    Decision both = admit(metered(p, "free", "u5", 1));
    assertThat(both.limitedBy()).containsExactly(GLOBAL_REQUESTS_PER_MINUTE);
    assertThat(both.retryAfterMs()).isEqualTo(20_000);
    assertThat(both.dimensions()).filteredOn(DimensionStatus::blocking).hasSize(2);
  }

  @Test
  void globalShareOfTokens() {
    CompiledPolicy p = policy().tier(tier("free").globalShare(50)).tier(tier("premium"))
        .global(null, perMinute(10_000), null).build();
    assertThat(admit(metered(p, "free", "u1", 5000)).allowed()).isTrue();
    Decision d = admit(metered(p, "free", "u2", 1));
    assertThat(d.limitedBy()).containsExactly(GLOBAL_TOKENS_PER_MINUTE);
    assertThat(d.retryAfterMs()).isEqualTo(12); // 1 token at 5000/min
    assertThat(admit(metered(p, "premium", "p1", 5000)).allowed()).isTrue();
    assertThat(admit(metered(p, "premium", "p2", 1)).limitedBy()).containsExactly(GLOBAL_TOKENS_PER_MINUTE);
  }

  @Test
  void requestsOnlyCountsRequestRatesAlone() {
    CompiledPolicy p = policy()
        .tier(tier("free").requests(perMinute(3, 3)).tokensPerMinute(perMinute(100)).concurrency(1)
            .budget(1, BudgetPeriod.Daily))
        .global(perMinute(100), perMinute(100), budget(1, BudgetPeriod.Daily))
        .build();
    assertThat(admit(metered(p, "alice", 100, 1)).allowed()).isTrue(); // tokens, lease and budgets now full
    AdmitRequest unmetered = AdmitRequest.requestsOnly(p, id(), "alice", p.tier("free").orElseThrow());
    Decision d = admit(unmetered);
    assertThat(d.allowed()).isTrue();
    assertThat(d.dimensions()).extracting(DimensionStatus::dimension)
        .containsExactly(TIER_REQUESTS_PER_MINUTE, GLOBAL_REQUESTS_PER_MINUTE);
    assertThat(d.remainingRequests()).isEqualTo(1);
    assertThat(d.remainingTokens()).isNull();
    assertThat(d.userBudget()).isNull();
    assertThat(admit(AdmitRequest.requestsOnly(p, id(), "alice", unmetered.tier())).allowed()).isTrue();
    assertThat(admit(AdmitRequest.requestsOnly(p, id(), "alice", unmetered.tier())).limitedBy())
        .containsExactly(TIER_REQUESTS_PER_MINUTE);
    assertThat(reconcile(ReconcileRequest.release(unmetered)).outcome()).isEqualTo(ReconcileResult.Outcome.UNKNOWN);
  }

  @Test
  void shadowModeCountsButNeverBlocks() {
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(1, 1))).shadow().build();
    Decision first = admit(metered(p, "alice", 0, 0));
    assertThat(first.allowed()).isTrue();
    assertThat(first.shadow()).isTrue();
    assertThat(first.limitedBy()).isEmpty();
    Decision second = admit(metered(p, "alice", 0, 0));
    assertThat(second.allowed()).isTrue();
    assertThat(second.limitedBy()).containsExactly(TIER_REQUESTS_PER_MINUTE);
    assertThat(second.retryAfterMs()).isEqualTo(MINUTE);
    Decision third = admit(metered(p, "alice", 0, 0)); // the second was charged, as if allowed
    assertThat(third.retryAfterMs()).isEqualTo(2 * MINUTE);
    assertThat(snapshot()).containsEntry(P + "stats:2026-11", "{requests=3, requests:free=3, shadowThrottled=2}");

    CompiledPolicy enforced = policy().tier(tier("free").requests(perMinute(1, 1))).build();
    admit(metered(enforced, "bob", 0, 0));
    assertThat(admit(metered(enforced, "bob", 0, 0).withShadow(true)).allowed()).isTrue();
    assertThat(admit(metered(enforced, "bob", 0, 0)).allowed()).isFalse();
  }

  // ---------------------------------------------------------------- response figures, stats

  @Test
  void remainingFiguresAndBudgetWarning() {
    CompiledPolicy p = policy()
        .tier(tier("free").requests(perMinute(10, 10)).tokensPerMinute(perMinute(10_000))
            .budget(1_000_000, BudgetPeriod.Monthly))
        .model(model("m", perMinute(5, 5), null, null))
        .global(perMinute(100, 100), null, budget(2_000_000, BudgetPeriod.Monthly))
        .build();
    Decision d1 = admit(metered(p, "alice", "m", 3000, 300_000));
    assertThat(d1.remainingRequests()).isEqualTo(4);
    assertThat(d1.remainingTokens()).isEqualTo(7000);
    assertThat(d1.remainingBudgetMicros()).isEqualTo(700_000);
    assertThat(d1.budgetWarning(80)).isFalse();
    admit(metered(p, "alice", "m", 3000, 300_000));
    Decision d3 = admit(metered(p, "alice", "m", 3000, 300_000));
    assertThat(d3.userBudget().usedMicros()).isEqualTo(900_000);
    assertThat(d3.userBudget().remainingMicros()).isEqualTo(100_000);
    assertThat(d3.globalBudget().usedMicros()).isEqualTo(900_000);
    assertThat(d3.budgetWarning(80)).isTrue();
    assertThat(d3.budgetWarning(95)).isFalse();
    assertThat(d3.nowMs()).isEqualTo(T0);
    assertThat(status(d3, MODEL_REQUESTS_PER_MINUTE).remaining()).isEqualTo(2);
    assertThat(status(d3, MODEL_REQUESTS_PER_MINUTE).resetMs()).isEqualTo(36_000); // 3 requests at 5/min
  }

  @Test
  void usageStatisticsPerPeriod() {
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(1, 1)))
        .global(null, null, budget(10_000_000, BudgetPeriod.Daily)).build();
    AdmitRequest r1 = metered(p, "alice", 500, 900);
    admit(r1);
    admit(metered(p, "alice", 500, 900));
    reconcile(new ReconcileRequest(r1, 120, 250));
    AdmitRequest r2 = metered(p, "bob", 500, 900);
    admit(r2);
    reconcile(new ReconcileRequest(r2, 30, 40));
    assertThat(snapshot())
        .containsEntry(P + "stats:2026-11-23", "{requests=2, requests:free=2, spendMicros=290, throttled=1, throttled:free=1}")
        .containsEntry(P + "top:2026-11-23", "{alice=250, bob=40}")
        .containsEntry(P + "top:2026-11-23:tier", "{alice=free, bob=free}")
        .containsEntry(P + "top:2026-11-23:tokens", "{alice=120, bob=30}");
  }

  // ---------------------------------------------------------------- agent runs

  @Test
  void eachRunOfAUserIsCappedOnItsOwnAndCallsOutsideARunAreNot() {
    CompiledPolicy p = policy().tier(tier("free").run(null, null, 3L, 60_000)).build();
    for (int i = 0; i < 3; i++) {
      assertThat(admit(inRun(p, "alice", "task-1", 10, 0)).allowed()).isTrue();
    }
    Decision fourth = admit(inRun(p, "alice", "task-1", 10, 0));
    assertThat(fourth.limitedBy()).containsExactly(Dimension.RUN_REQUESTS);
    assertThat(fourth.retryHelpsSoon()).as("a spent run does not come back by waiting a little").isFalse();
    assertThat(fourth.retryAfterMs()).as("its counts are forgotten one idle timeout after the last call")
        .isEqualTo(60_000);
    assertThat(admit(inRun(p, "alice", "task-2", 10, 0)).allowed()).as("another run").isTrue();
    assertThat(admit(inRun(p, "bob", "task-1", 10, 0)).allowed()).as("another user's run of that name").isTrue();
    assertThat(admit(metered(p, "alice", 10, 0)).allowed()).as("outside any run").isTrue();
  }

  @Test
  void aRunBudgetIsReservedThenReconciledAndWarns() {
    CompiledPolicy p = policy().tier(tier("free").run(1_000L, 10_000L, null, 60_000)).build();
    AdmitRequest first = inRun(p, "alice", "r", 100, 600);
    Decision admitted = admit(first);
    assertThat(admitted.allowed()).isTrue();
    assertThat(admitted.runBudget()).isEqualTo(new BudgetStatus(600, 1_000, 60_000));
    assertThat(admitted.budgetWarning(50)).isTrue();
    Decision second = admit(inRun(p, "alice", "r", 100, 600));
    assertThat(second.limitedBy()).containsExactly(Dimension.RUN_BUDGET);
    assertThat(reconcile(new ReconcileRequest(first, 40, 150)).outcome()).isEqualTo(ReconcileResult.Outcome.RECONCILED);
    assertThat(admit(inRun(p, "alice", "r", 100, 600)).allowed()).as("the reservation replaced by the spend").isTrue();
    Decision tokens = admit(inRun(p, "alice", "r", 9_900, 0));
    assertThat(tokens.limitedBy()).containsExactly(Dimension.RUN_TOKENS);
  }

  @Test
  void aRunIsForgottenAnIdleTimeoutAfterItsLastCall() {
    CompiledPolicy p = policy().tier(tier("free").run(null, null, 1L, 30_000)).build();
    assertThat(admit(inRun(p, "alice", "r", 1, 0)).allowed()).isTrue();
    clock.addAndGet(29_999);
    assertThat(admit(inRun(p, "alice", "r", 1, 0)).allowed()).as("still within the run").isFalse();
    clock.addAndGet(31_002);
    assertThat(admit(inRun(p, "alice", "r", 1, 0)).allowed()).as("idle for longer than its timeout").isTrue();
  }

  @Test
  void aCallThatOutlastsItsRunDoesNotFreeTheNextLifesReservation() {
    CompiledPolicy p = policy().tier(tier("free").run(1_000L, null, null, 30_000)).build();
    AdmitRequest longCall = inRun(p, "alice", "r", 10, 900);
    assertThat(admit(longCall).allowed()).isTrue();
    clock.addAndGet(30_001); // the run was idle too long while that call ran: its life ended
    assertThat(admit(inRun(p, "alice", "r", 10, 900)).allowed()).as("a new life of the run").isTrue();
    assertThat(reconcile(new ReconcileRequest(longCall, 10, 100)).outcome()).isEqualTo(ReconcileResult.Outcome.RECONCILED);
    // the old call's reservation went with the old life; its usage is charged, nothing of the new life is given back
    assertThat(admit(inRun(p, "alice", "r", 10, 900)).limitedBy()).containsExactly(Dimension.RUN_BUDGET);
  }

  @Test
  void aRefundGivesBackEveryCountRequestsAndRunsIncludedOnce() {
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(2, 2)).run(1_000L, null, 2L, 60_000)
        .concurrency(5)).build();
    AdmitRequest first = inRun(p, "alice", "r", 10, 400);
    assertThat(admit(first).allowed()).isTrue();
    await(store.refund(first));
    Map<String, String> refunded = snapshot();
    await(store.refund(first));
    assertThat(snapshot()).as("a second refund changes nothing").isEqualTo(refunded);
    for (int i = 0; i < 2; i++) {
      assertThat(admit(inRun(p, "alice", "r", 10, 400)).allowed()).as("call %d after the refund", i + 1).isTrue();
    }
    assertThat(admit(inRun(p, "alice", "r", 10, 400)).limitedBy())
        .contains(Dimension.RUN_REQUESTS, TIER_REQUESTS_PER_MINUTE);
  }

  @Test
  void anAdmissionForSeveralCallsCountsEachOnRequestRatesAndRuns() {
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(5, 5)).run(null, null, 4L, 60_000)).build();
    assertThat(admit(inRun(p, "alice", "r", 10, 0).withCalls(3)).allowed()).isTrue();
    Decision second = admit(inRun(p, "alice", "r", 10, 0).withCalls(3));
    assertThat(second.limitedBy()).containsExactlyInAnyOrder(TIER_REQUESTS_PER_MINUTE, Dimension.RUN_REQUESTS);
    assertThat(admit(inRun(p, "alice", "r", 10, 0)).allowed()).as("one more call fits both").isTrue();
    assertThat(admit(metered(p, "bob", 10, 0).withCalls(6)).neverPassable()).as("more calls than the burst").isTrue();
  }

  @Test
  void runNamesCannotForgeOtherKeys() {
    CompiledPolicy p = policy().tier(tier("free").run(null, null, 1L, 60_000)).build();
    assertThat(admit(inRun(p, "alice", "x:req", 1, 0)).allowed()).isTrue();
    assertThat(admit(inRun(p, "alice", "x", 1, 0)).allowed()).as("run x is not run x:req").isTrue();
    assertThat(admit(inRun(p, "alice", "{other/policy}", 1, 0)).allowed()).isTrue();
    assertThat(counters().keySet().stream().filter(k -> k.contains(":run:")))
        .containsExactlyInAnyOrder(P + "u:alice:run:x%3Areq:req", P + "u:alice:run:x:req",
            P + "u:alice:run:%7Bother%2Fpolicy%7D:req");
  }

  static AdmitRequest inRun(CompiledPolicy policy, String user, String run, long tokens, long cost) {
    return metered(policy, user, tokens, cost).withRun(run);
  }

  @Test
  void userIdsCannotForgeOtherKeys() {
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(1, 1))).build();
    var free = p.tier("free").orElseThrow();
    admit(AdmitRequest.requestsOnly(p, id(), "alice", free));
    assertThat(admit(AdmitRequest.requestsOnly(p, id(), "alice:req", free)).allowed()).isTrue();
    assertThat(admit(AdmitRequest.requestsOnly(p, id(), "{x}", free)).allowed()).isTrue();
    assertThat(counters().keySet().stream().filter(k -> !k.startsWith(P + "r:")))
        .containsExactlyInAnyOrder(P + "u:alice:req", P + "u:alice%3Areq:req", P + "u:%7Bx%7D:req");
  }

  // ---------------------------------------------------------------- helpers

  protected Decision admit(AdmitRequest request) {
    return await(store.admit(request));
  }

  protected ReconcileResult reconcile(ReconcileRequest request) {
    return await(store.reconcile(request));
  }

  /** Admits up to {@code attempts} requests now; returns how many were allowed. */
  protected int admitted(CompiledPolicy policy, String user, int attempts) {
    int allowed = 0;
    for (int i = 0; i < attempts; i++) {
      if (admit(metered(policy, user, 0, 0)).allowed()) {
        allowed++;
      }
    }
    return allowed;
  }

  /** Counters and reservation records: the snapshot without usage statistics. */
  protected Map<String, String> counters() {
    Map<String, String> out = new TreeMap<>(snapshot());
    out.keySet().removeIf(key -> key.startsWith(P + "stats:") || key.startsWith(P + "top:"));
    return out;
  }

  static AdmitRequest metered(CompiledPolicy policy, String user, long tokens, long cost) {
    return metered(policy, user, null, tokens, cost);
  }

  static AdmitRequest metered(CompiledPolicy policy, String user, String model, long tokens, long cost) {
    return AdmitRequest.metered(policy, id(), user, policy.tier(policy.defaultTier()).orElseThrow(),
        model == null ? null : policy.model(model).orElse(null), tokens, cost);
  }

  static AdmitRequest metered(CompiledPolicy policy, String tier, String user, long tokens) {
    return AdmitRequest.metered(policy, id(), user, policy.tier(tier).orElseThrow(), null, tokens, 0);
  }

  static String id() {
    return UUID.randomUUID().toString();
  }

  static DimensionStatus status(Decision decision, Dimension dimension) {
    return decision.dimensions().stream().filter(s -> s.dimension() == dimension && !s.tierShare()).findFirst()
        .orElseThrow();
  }

  static <T> T await(Future<T> future) {
    try {
      return future.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw new IllegalStateException(e.getCause());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
