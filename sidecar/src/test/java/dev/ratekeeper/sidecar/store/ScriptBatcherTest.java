package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.limiter.TestPolicy.perMinute;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.policy;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.tier;
import static dev.ratekeeper.sidecar.store.EmbeddedRedis.await;
import static dev.ratekeeper.sidecar.store.EmbeddedRedis.call;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.BudgetPeriod;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.periods.CalendarPeriod;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.DuplicateRequestException;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.limiter.ReconcileResult;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Admissions and reconciles sent as batches ({@link ScriptBatcher}) on a real redis-server: a gate in
 * front of the REDIS.connection() holds the calls in flight, so that the calls made meanwhile wait and go
 * as batches of a known size, and the test can count the script calls Redis ran.
 */
class ScriptBatcherTest {
  private static final String P = "rk:{team-a/agents}:";

  @RegisterExtension
  static final ConnectedRedis REDIS = new ConnectedRedis();

  private HoldingSender gate;
  private RedisLimiterStore store;

  @BeforeEach
  void store() {
    call(REDIS.connection(), Command.FLUSHALL);
    gate = new HoldingSender(REDIS.connection());
    store = RedisLimiterStore.create(gate, LimiterOptions.DEFAULTS, RedisTime.server());
    await(store.loadScripts());
  }

  @Test
  void callsMadeWhileTwoAreInFlightGoAsBatchesAndAreDecidedInTheOrderMade() {
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(1, 10))).build();
    learnThePeriod(requestsOnly(p, "learn", "alice"));
    int before = gate.scriptCalls();
    gate.hold();
    List<Future<Decision>> decisions = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      decisions.add(store.admit(requestsOnly(p, "r" + i, "alice")));
    }
    assertThat(gate.held()).as("two calls in flight, the other 198 wait").isEqualTo(2);
    gate.release();
    await(Future.all(decisions));

    // 2 alone, then 198 waiting calls in batches of at most 32: 7 more script calls
    assertThat(gate.scriptCalls() - before).isEqualTo(2 + 7);
    List<Integer> admitted = new ArrayList<>();
    for (int i = 0; i < decisions.size(); i++) {
      if (decisions.get(i).result().allowed()) {
        admitted.add(i);
      }
    }
    // the burst of 10, less the one spent learning the period: the first 9 made, exactly
    assertThat(admitted).containsExactly(0, 1, 2, 3, 4, 5, 6, 7, 8);
    assertThat(call(REDIS.connection(), Command.HGET, P + "stats:" + period(), "throttled").toLong()).isEqualTo(191);
  }

  @Test
  void theSameRequestTwiceInOneBatchIsChargedOnce() {
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(1, 10))).build();
    learnThePeriod(requestsOnly(p, "learn", "alice"));
    gate.hold();
    List<Future<Decision>> first = List.of(store.admit(requestsOnly(p, "a", "alice")),
        store.admit(requestsOnly(p, "b", "alice")));
    Future<Decision> once = store.admit(requestsOnly(p, "dup", "alice"));
    Future<Decision> again = store.admit(requestsOnly(p, "dup", "alice"));
    gate.release();
    await(Future.all(first));
    assertThat(await(once).allowed()).isTrue();
    assertThat(failure(again)).isInstanceOf(DuplicateRequestException.class);
    // learning the period, a, b and dup: 4 of the burst of 10
    assertThat(await(store.admit(requestsOnly(p, "next", "alice"))).remainingRequests()).isEqualTo(5);
  }

  @Test
  void aFailedBatchFailsEachOfItsCallsAndTheNextBatchesGoOn() {
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(1, 100))).build();
    learnThePeriod(requestsOnly(p, "learn", "alice"));
    gate.hold();
    List<Future<Decision>> alone = new ArrayList<>();
    alone.add(store.admit(requestsOnly(p, "x1", "alice")));
    alone.add(store.admit(requestsOnly(p, "x2", "alice")));
    List<Future<Decision>> batched = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      batched.add(store.admit(requestsOnly(p, "y" + i, "alice")));
    }
    gate.failNext(2, new IllegalStateException("connection reset")); // the two calls in flight
    gate.release();
    assertThat(alone).allSatisfy(f -> assertThat(failure(f)).hasMessage("connection reset"));
    await(Future.all(batched));
    assertThat(batched).allSatisfy(f -> assertThat(f.result().allowed()).isTrue());
    // learning the period and the batch of 5: the failed calls charged nothing
    assertThat(await(store.admit(requestsOnly(p, "z", "alice"))).remainingRequests()).isEqualTo(100 - 7);
  }

  @Test
  void aRequestWhoseCounterHoldsAnotherTypeFailsAloneAndTheRestOfItsBatchIsDecided() {
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(1, 10))).build();
    learnThePeriod(requestsOnly(p, "learn", "alice"));
    call(REDIS.connection(), Command.HSET, P + "u:mallory:req", "not", "a bucket");
    gate.hold();
    List<Future<Decision>> alone = List.of(store.admit(requestsOnly(p, "a1", "alice")),
        store.admit(requestsOnly(p, "a2", "alice")));
    Future<Decision> bob = store.admit(requestsOnly(p, "b", "bob"));
    Future<Decision> mallory = store.admit(requestsOnly(p, "m", "mallory"));
    Future<Decision> carol = store.admit(requestsOnly(p, "c", "carol"));
    gate.release();
    await(Future.all(alone));
    assertThat(await(bob).remainingRequests()).isEqualTo(9);
    assertThat(await(carol).remainingRequests()).isEqualTo(9);
    assertThat(failure(mallory)).hasMessageContaining("admit.lua failed").hasMessageContaining("WRONGTYPE");
    assertThat(call(REDIS.connection(), Command.EXISTS, P + "r:m").toLong()).as("no record for the failed request").isZero();
    assertThat(call(REDIS.connection(), Command.HGET, P + "stats:" + period(), "requests").toLong()).isEqualTo(5);
  }

  @Test
  void aSharedCounterOfAnotherTypeFailsEveryRequestOfTheBatchAndNothingIsWritten() {
    // the batch's counters are read with one MGET, which answers nil for a key of another type as for
    // no key: the requests must fail on it (GET), not take it for an empty bucket
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(1, 10)))
        .global(perMinute(1, 100), null, null).build();
    learnThePeriod(requestsOnly(p, "learn", "alice"));
    call(REDIS.connection(), Command.DEL, P + "g:req");
    call(REDIS.connection(), Command.HSET, P + "g:req", "not", "a bucket");
    String aliceBefore = call(REDIS.connection(), Command.GET, P + "u:alice:req").toString();
    gate.hold();
    List<Future<Decision>> alone = List.of(store.admit(requestsOnly(p, "a1", "alice")),
        store.admit(requestsOnly(p, "a2", "alice")));
    List<Future<Decision>> batch = new ArrayList<>();
    for (String user : List.of("alice", "bob", "carol")) {
      batch.add(store.admit(requestsOnly(p, "b-" + user, user)));
    }
    gate.release();
    for (Future<Decision> f : alone) {
      assertThat(failure(f)).hasMessageContaining("WRONGTYPE");
    }
    for (Future<Decision> f : batch) {
      assertThat(failure(f)).hasMessageContaining("admit.lua failed").hasMessageContaining("WRONGTYPE");
    }
    assertThat(call(REDIS.connection(), Command.GET, P + "u:alice:req").toString()).isEqualTo(aliceBefore);
    assertThat(call(REDIS.connection(), Command.EXISTS, P + "u:bob:req", P + "u:carol:req", P + "r:b-alice",
        P + "r:b-bob", P + "r:b-carol", P + "r:a1", P + "r:a2").toLong()).as("nothing written").isZero();
    assertThat(call(REDIS.connection(), Command.HGET, P + "stats:" + period(), "requests").toLong()).isEqualTo(1);
  }

  @Test
  void aReconcileThatFailsLeavesItsRequestHeldWithItsLeaseAndTheOthersAreReconciled() {
    CompiledPolicy p = policy().tier(tier("free").tokensPerDay(1_000_000).concurrency(10)).build();
    learnThePeriod(metered(p, "learn", "alice", 100, 0));
    List<AdmitRequest> admitted = new ArrayList<>();
    for (String user : List.of("bob", "mallory", "carol")) {
      AdmitRequest r = metered(p, "r-" + user, user, 1_000, 0);
      assertThat(await(store.admit(r)).allowed()).isTrue();
      admitted.add(r);
    }
    call(REDIS.connection(), Command.DEL, P + "u:mallory:tpd");
    call(REDIS.connection(), Command.HSET, P + "u:mallory:tpd", "not", "a quota");
    gate.hold();
    List<Future<ReconcileResult>> alone = List.of(
        store.reconcile(new ReconcileRequest(metered(p, "x1", "nobody", 1, 0), 1, 0)),
        store.reconcile(new ReconcileRequest(metered(p, "x2", "nobody", 1, 0), 1, 0)));
    List<Future<ReconcileResult>> batch = new ArrayList<>();
    for (AdmitRequest r : admitted) {
      batch.add(store.reconcile(new ReconcileRequest(r, 400, 0)));
    }
    gate.release();
    await(Future.all(alone));
    String day = CalendarPeriod.DAY.id(await(batch.get(0)).nowMs());
    assertThat(await(batch.get(0)).outcome()).isEqualTo(ReconcileResult.Outcome.RECONCILED);
    assertThat(await(batch.get(2)).outcome()).isEqualTo(ReconcileResult.Outcome.RECONCILED);
    assertThat(failure(batch.get(1))).hasMessageContaining("reconcile.lua failed").hasMessageContaining("WRONGTYPE");
    assertThat(call(REDIS.connection(), Command.GET, P + "u:bob:tpd").toString()).isEqualTo(day + ":400");
    assertThat(call(REDIS.connection(), Command.GET, P + "u:carol:tpd").toString()).isEqualTo(day + ":400");
    assertThat(call(REDIS.connection(), Command.ZCARD, P + "u:bob:conc").toLong()).isZero();
    assertThat(call(REDIS.connection(), Command.ZCARD, P + "u:mallory:conc").toLong()).as("lease still held").isEqualTo(1);
    assertThat(call(REDIS.connection(), Command.GET, P + "r:r-mallory").toString()).startsWith("held ");
  }

  @Test
  void aLongQueueRefusedAtOnceDrainsWithoutDeepeningTheStack() throws Exception {
    // the sender refuses at once, as RedisLink does while Redis is unavailable; the first two calls
    // are held so that the rest queue, then refused on a thread with a small stack
    List<Promise<Response>> held = new ArrayList<>();
    Function<Request, Future<Response>> refusing = request -> {
      synchronized (held) {
        if (held.size() < 2) {
          Promise<Response> promise = Promise.promise();
          held.add(promise);
          return promise.future();
        }
      }
      return Future.failedFuture(new RedisLink.RedisUnavailableException("Redis is unavailable"));
    };
    RedisLimiterStore refused = RedisLimiterStore.create(refusing, LimiterOptions.DEFAULTS, RedisTime.server());
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(1, 10))).build();
    List<Future<Decision>> decisions = new ArrayList<>();
    for (int i = 0; i < ScriptBatcher.MAX_WAITING; i++) {
      decisions.add(refused.admit(requestsOnly(p, "q" + i, "alice")));
    }
    Thread small = new Thread(null, () -> held.forEach(promise -> promise.fail(
        new RedisLink.RedisUnavailableException("Redis is unavailable"))), "small-stack", 128 * 1024);
    small.start();
    small.join();
    assertThat(decisions).allSatisfy(
        f -> assertThat(failure(f)).isInstanceOf(RedisLink.RedisUnavailableException.class));
  }

  @Test
  void aSenderThatThrowsFailsItsBatchAndFreesTheSlot() {
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(1, 10))).build();
    AtomicInteger throwsLeft = new AtomicInteger(2);
    RedisLimiterStore throwing = RedisLimiterStore.create(request -> {
      if (request.command() == Command.EVALSHA && throwsLeft.getAndDecrement() > 0) {
        throw new IllegalStateException("connection closed");
      }
      return REDIS.connection().send(request);
    }, LimiterOptions.DEFAULTS, RedisTime.server());
    assertThat(failure(throwing.admit(requestsOnly(p, "t1", "alice")))).hasMessage("connection closed");
    assertThat(failure(throwing.admit(requestsOnly(p, "t2", "alice")))).hasMessage("connection closed");
    assertThat(await(throwing.admit(requestsOnly(p, "later", "alice"))).allowed()).isTrue();
  }

  @Test
  void aWholeBatchInAnUnknownStatisticsPeriodIsRetriedAndCountedOnce() {
    // a fresh store does not know the period: the first calls, and the batch behind them, are answered
    // "wrong period" and repeated with the period Redis named
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(1, 5))).build();
    gate.hold();
    List<Future<Decision>> all = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      all.add(store.admit(requestsOnly(p, "w" + i, "alice")));
    }
    gate.release();
    await(Future.all(all));
    assertThat(all.stream().filter(f -> f.result().allowed()).count()).isEqualTo(5);
    assertThat(call(REDIS.connection(), Command.HGET, P + "stats:" + period(), "throttled").toLong()).isEqualTo(7);
    assertThat(call(REDIS.connection(), Command.HGET, P + "stats:" + period(), "requests").toLong()).isEqualTo(5);
  }

  @Test
  void callsFromManyEventLoopsAreDecidedExactlyAndAnsweredOnTheirOwnContext() throws Exception {
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(1, 1000))).build();
    learnThePeriod(requestsOnly(p, "learn", "alice"));
    int loops = 8;
    int each = 500;
    int before = gate.scriptCalls();
    AtomicInteger allowed = new AtomicInteger();
    AtomicInteger elsewhere = new AtomicInteger();
    AtomicInteger failed = new AtomicInteger();
    CountDownLatch done = new CountDownLatch(loops * each);
    for (int l = 0; l < loops; l++) {
      Context context = REDIS.vertx().getOrCreateContext();
      int loop = l;
      context.runOnContext(v -> {
        for (int i = 0; i < each; i++) {
          store.admit(requestsOnly(p, "c" + loop + "-" + i, "alice")).onComplete(result -> {
            if (Vertx.currentContext() != context) {
              elsewhere.incrementAndGet();
            }
            if (result.failed()) {
              failed.incrementAndGet();
            } else if (result.result().allowed()) {
              allowed.incrementAndGet();
            }
            done.countDown();
          });
        }
      });
    }
    assertThat(done.await(60, TimeUnit.SECONDS)).isTrue();
    assertThat(failed.get()).isZero();
    assertThat(elsewhere.get()).as("answers delivered on another context").isZero();
    assertThat(allowed.get()).isEqualTo(999); // the burst of 1000, less the call that learnt the period
    assertThat(gate.scriptCalls() - before).as("script calls for 4000 admissions").isLessThan(loops * each);
  }

  @Test
  void reconcilesSentAsOneBatchSettleEveryRequestExactly() {
    CompiledPolicy p = policy().tier(tier("free").tokensPerDay(1_000_000).budget(10_000_000, BudgetPeriod.Monthly))
        .build();
    learnThePeriod(metered(p, "learn", "user0", 1_000, 50_000));
    List<AdmitRequest> admitted = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      AdmitRequest r = metered(p, "m" + i, "user" + (i % 4), 1_000, 50_000);
      assertThat(await(store.admit(r)).allowed()).isTrue();
      admitted.add(r);
    }
    int before = gate.scriptCalls();
    gate.hold();
    List<Future<ReconcileResult>> results = new ArrayList<>();
    for (int i = 0; i < admitted.size(); i++) {
      results.add(store.reconcile(new ReconcileRequest(admitted.get(i), 100 + i, 1_000 + i)));
    }
    results.add(store.reconcile(new ReconcileRequest(admitted.get(5), 999, 999))); // a repeat in the same batch
    gate.release();
    await(Future.all(results));
    assertThat(gate.scriptCalls() - before).isEqualTo(2 + 2); // 2 alone, then 39 waiting: 32 + 7
    assertThat(results.subList(0, 40)).allSatisfy(
        f -> assertThat(f.result().outcome()).isEqualTo(ReconcileResult.Outcome.RECONCILED));
    assertThat(results.get(40).result().outcome()).isEqualTo(ReconcileResult.Outcome.ALREADY_RECONCILED);

    String day = CalendarPeriod.DAY.id(results.get(0).result().nowMs());
    String month = CalendarPeriod.MONTH.id(results.get(0).result().nowMs());
    for (int u = 0; u < 4; u++) {
      long tokens = 0;
      long spend = 0;
      for (int i = u; i < 40; i += 4) {
        tokens += 100 + i;
        spend += 1_000 + i;
      }
      if (u == 0) {
        tokens += 1_000; // the request spent learning the period is still held at its reservation
        spend += 50_000;
      }
      assertThat(call(REDIS.connection(), Command.GET, P + "u:user" + u + ":tpd").toString()).isEqualTo(day + ":" + tokens);
      assertThat(call(REDIS.connection(), Command.GET, P + "u:user" + u + ":budget").toString())
          .isEqualTo(month + ":" + spend);
    }
    long spent = 40 * 1_000 + (39 * 40 / 2);
    assertThat(call(REDIS.connection(), Command.HGET, P + "stats:" + period(), "spendMicros").toLong()).isEqualTo(spent);
  }

  /** A fresh store learns the statistics period from its first call's answer; from then on calls go once. */
  private void learnThePeriod(AdmitRequest first) {
    assertThat(await(store.admit(first)).allowed()).isTrue();
  }

  /** What {@code future} failed with (null if it succeeded), within 10 s. */
  static Throwable failure(Future<?> future) {
    try {
      return future.toCompletionStage().toCompletableFuture().handle((result, error) -> error)
          .get(10, java.util.concurrent.TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new AssertionError("not answered within 10 s", e);
    }
  }

  private static String period() {
    return CalendarPeriod.MONTH.id(System.currentTimeMillis());
  }

  private static AdmitRequest requestsOnly(CompiledPolicy p, String id, String user) {
    return AdmitRequest.requestsOnly(p, id, user, p.tier("free").orElseThrow());
  }

  private static AdmitRequest metered(CompiledPolicy p, String id, String user, long tokens, long cost) {
    return AdmitRequest.metered(p, id, user, p.tier("free").orElseThrow(), null, tokens, cost);
  }
}
