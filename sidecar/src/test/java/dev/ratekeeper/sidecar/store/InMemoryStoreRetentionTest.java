package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.limiter.TestPolicy.budget;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.perMinute;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.policy;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.tier;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ratekeeper.policy.api.BudgetPeriod;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.DuplicateRequestException;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.limiter.ReconcileResult;
import io.vertx.core.Future;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * What the in-process store keeps, on a clock the test moves: a reconciled request is kept for the
 * reconciled-record TTL (a minute) and no longer, as its id and expiry only, so the store holds
 * what one minute of requests leaves whatever the rate, drops expired ids a few per operation, and
 * gives back the room a burst took. Exact counts throughout.
 */
class InMemoryStoreRetentionTest {
  private static final long T0 = Instant.parse("2026-11-23T10:00:00Z").toEpochMilli();
  private static final long TTL = LimiterOptions.DEFAULTS.reconciledTtlMs();
  private static final int USERS = 50;

  private final CompiledPolicy policy = policy()
      .tier(tier("free").requests(perMinute(100_000_000)).tokensPerMinute(perMinute(1_000_000_000))
          .tokensPerDay(100_000_000_000L).concurrency(100_000).budget(1_000_000_000_000L, BudgetPeriod.Monthly))
      .global(perMinute(100_000_000), perMinute(1_000_000_000), budget(1_000_000_000_000L, BudgetPeriod.Monthly))
      .build();
  private final AtomicLong clock = new AtomicLong(T0);
  private final InMemoryLimiterStore store = new InMemoryLimiterStore(LimiterOptions.DEFAULTS, clock::get);
  private long sequence;

  @Test
  void aMinuteOfRequestsIsKeptWhateverTheRateAndTheRoomOfABurstIsGivenBack() {
    assertThat(TTL).isEqualTo(60_000);
    // 1 request per ms for 150 s: from the 60,001st on, every ms adds one id and drops exactly one
    for (int ms = 0; ms < 150_000; ms++) {
      admitAndReconcile();
      clock.incrementAndGet();
      assertThat(store.retained().reconciled()).as("ms %d", ms).isEqualTo(Math.min(ms + 1, 60_001));
    }
    InMemoryLimiterStore.Retained steady = store.retained();
    assertThat(steady).isEqualTo(new InMemoryLimiterStore.Retained(countersLive(), 0, 60_001, 65_536));
    // the counters do not grow with the requests: a few per user, and the policy's own
    assertThat(steady.counters()).isLessThan(20 * USERS);

    // 10 requests per ms for 10 s: the last minute's ids, 50,001 of the slower ones and all 100,000
    for (int ms = 0; ms < 10_000; ms++) {
      for (int i = 0; i < 10; i++) {
        admitAndReconcile();
      }
      if (ms < 9_999) {
        clock.incrementAndGet();
      }
    }
    assertThat(store.retained()).isEqualTo(
        new InMemoryLimiterStore.Retained(steady.counters(), 0, 150_001, 262_144));
    clock.incrementAndGet();

    // back to 1 per ms: once the burst has expired, as many ids as before and the arrays as small as before
    for (int ms = 0; ms < 70_000; ms++) {
      admitAndReconcile();
      clock.incrementAndGet();
    }
    InMemoryLimiterStore.Retained after = store.retained();
    assertThat(after.counters()).isEqualTo(steady.counters()).isEqualTo(countersLive());
    assertThat(after.records()).isZero();
    assertThat(after.reconciled()).isEqualTo(60_001);
    // shrunk when a quarter of the arrays was left: at most twice what growing to 60,001 took
    assertThat(after.reconciledCapacity()).isBetween(65_536, 131_072);
  }

  @Test
  void afterAnIdleSpellExpiredIdsGoSixteenPerOperationOrAllAtOnceAtTheSweep() {
    for (int ms = 0; ms < 60_000; ms++) {
      admitAndReconcile();
      clock.incrementAndGet();
    }
    assertThat(store.retained().reconciled()).isEqualTo(60_000);
    clock.addAndGet(10 * 60_000);
    int operations = 0;
    int sweeps = 0;
    int left = 60_000;
    while (left > 0) {
      admit(nextId()); // an admission only adds a held record, never a reconciled id
      operations++;
      int now = store.retained().reconciled();
      if (now == 0 && left > 16) {
        sweeps++;
      } else {
        assertThat(left - now).as("operation %d", operations).isEqualTo(Math.min(16, left));
      }
      left = now;
    }
    assertThat(sweeps).isEqualTo(operations < 60_000 / 16 ? 1 : 0);
    assertThat(operations).isLessThanOrEqualTo(4096);
    assertThat(store.retained().records()).isEqualTo(operations);
    assertThat(store.retained().reconciledCapacity()).isEqualTo(16);
  }

  @Test
  void theCountersOfUsersWhoStoppedAreDroppedAtTheNextSweep() {
    for (int user = 0; user < 20_000; user++) {
      use("gone-" + user);
    }
    int written = store.retained().counters();
    assertThat(written).isEqualTo(countersLive()).isGreaterThan(3 * 20_000);
    // two minutes later their rate buckets have expired (their day quota and budget have not); one of
    // them comes back: its buckets are written again in place of the expired ones, until the sweep
    clock.addAndGet(2 * 60_000);
    int operations = 0;
    while (store.retained().counters() == written) {
      use("gone-0");
      operations += 2;
      assertThat(operations).isLessThanOrEqualTo(4096 + 1);
    }
    assertThat(store.retained().counters()).isEqualTo(countersLive()).isLessThan(written - 20_000);
  }

  private void use(String user) {
    AdmitRequest request = AdmitRequest.metered(policy, nextId(), user, policy.tier("free").orElseThrow(), null, 100, 200);
    assertThat(result(store.admit(request)).allowed()).isTrue();
    assertThat(reconcile(new ReconcileRequest(request, 40, 90)).outcome()).isEqualTo(ReconcileResult.Outcome.RECONCILED);
  }

  @Test
  void underLoadARepeatIsStillADuplicateForExactlyTheTtl() {
    String[] ids = new String[70_001];
    AdmitRequest[] admitted = new AdmitRequest[ids.length];
    for (int ms = 0; ms < ids.length; ms++) {
      admitted[ms] = admitAndReconcile();
      ids[ms] = admitted[ms].requestId();
      if (ms < ids.length - 1) {
        clock.incrementAndGet();
      }
    }
    // now = reconcile time of ids[70,000]; ids[10,000] was reconciled exactly TTL ago, ids[9,999] 1 ms before that
    assertThat(reconcile(ReconcileRequest.release(admitted[10_000])).outcome())
        .isEqualTo(ReconcileResult.Outcome.ALREADY_RECONCILED);
    assertThatThrownBy(() -> admit(ids[10_000])).isInstanceOf(DuplicateRequestException.class);
    assertThat(reconcile(ReconcileRequest.release(admitted[9_999])).outcome())
        .isEqualTo(ReconcileResult.Outcome.UNKNOWN);
    assertThat(reconcile(ReconcileRequest.release(admitted[0])).outcome())
        .isEqualTo(ReconcileResult.Outcome.UNKNOWN);
    // an expired id may be used again, and is then kept again for a whole TTL
    AdmitRequest again = admit(ids[9_999]);
    assertThat(reconcile(new ReconcileRequest(again, 10, 10)).outcome()).isEqualTo(ReconcileResult.Outcome.RECONCILED);
    clock.addAndGet(TTL);
    assertThat(reconcile(ReconcileRequest.release(again)).outcome())
        .isEqualTo(ReconcileResult.Outcome.ALREADY_RECONCILED);
    assertThat(store.snapshot()).containsKeys("rk:{team-a/agents}:r:" + ids[9_999], "rk:{team-a/agents}:r:" + ids[70_000])
        .doesNotContainKey("rk:{team-a/agents}:r:" + ids[69_999]);
    clock.incrementAndGet();
    assertThat(reconcile(ReconcileRequest.release(again)).outcome()).isEqualTo(ReconcileResult.Outcome.UNKNOWN);
    assertThat(store.snapshot()).doesNotContainKey("rk:{team-a/agents}:r:" + ids[9_999]);
  }

  private AdmitRequest admitAndReconcile() {
    AdmitRequest request = admit(nextId());
    assertThat(reconcile(new ReconcileRequest(request, 40, 90)).outcome()).isEqualTo(ReconcileResult.Outcome.RECONCILED);
    return request;
  }

  /** As the proxy's: sidecar id, a per-start nonce, a sequence number in base 36. */
  private String nextId() {
    return "sidecar-3f2a8c4e-1kq8x1z9m0abc-" + Long.toString(++sequence, 36);
  }

  private AdmitRequest admit(String id) {
    AdmitRequest request = AdmitRequest.metered(policy, id, "user-" + (sequence % USERS),
        policy.tier("free").orElseThrow(), null, 100, 200);
    assertThat(result(store.admit(request)).allowed()).isTrue();
    return request;
  }

  private ReconcileResult reconcile(ReconcileRequest request) {
    return result(store.reconcile(request));
  }

  /** Live keys other than reservation records. */
  private int countersLive() {
    return (int) store.snapshot().keySet().stream().filter(key -> !key.contains("}:r:")).count();
  }

  private static <T> T result(Future<T> future) {
    if (future.failed()) {
      throw future.cause() instanceof RuntimeException e ? e : new IllegalStateException(future.cause());
    }
    return future.result();
  }
}
