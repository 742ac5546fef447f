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
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.limiter.ReconcileResult;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.RedisConnection;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Eight independent sidecars (each its own Vert.x and Redis connection, pipelining many calls)
 * racing on the same counters of one real Redis, on Redis' own clock.
 */
class ConcurrentAdmitTest {
  private static final int CLIENTS = 8;
  private static final String P = "rk:{team-a/agents}:";

  private static EmbeddedRedis redis;
  private static Vertx adminVertx;
  private static RedisConnection admin;

  private final List<Vertx> vertxes = new ArrayList<>();
  private final List<RedisLimiterStore> stores = new ArrayList<>();

  @BeforeAll
  static void startRedis() {
    redis = new EmbeddedRedis();
    adminVertx = Vertx.vertx();
    admin = redis.connect(adminVertx);
  }

  @AfterAll
  static void stopRedis() {
    await(adminVertx.close());
    redis.close();
  }

  @BeforeEach
  void clients() {
    call(admin, Command.FLUSHALL);
    for (int i = 0; i < CLIENTS; i++) {
      Vertx vertx = Vertx.vertx();
      vertxes.add(vertx);
      RedisLimiterStore store = RedisLimiterStore.create(redis.connect(vertx), LimiterOptions.DEFAULTS,
          RedisTime.server());
      await(store.loadScripts());
      stores.add(store);
    }
  }

  @AfterEach
  void closeClients() {
    vertxes.forEach(v -> await(v.close()));
  }

  @Test
  void tenThousandRacingAdmitsGetExactlyTheBurst() {
    // perMinute 1: nothing refills during a race that lasts far less than a minute
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(1, 100))).build();
    List<Decision> decisions = race(10_000, i -> requestsOnly(p, "alice"));
    long admitted = decisions.stream().filter(Decision::allowed).count();
    long elapsed = redisElapsedMs(decisions);
    assertThat(elapsed).isLessThan(60_000);
    assertThat(admitted).isEqualTo(100);
  }

  @Test
  void racingAdmitsNeverExceedTheBurstPlusWhatRefilled() {
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(100, 100))).build();
    List<Decision> decisions = race(10_000, i -> requestsOnly(p, "alice"));
    long admitted = decisions.stream().filter(Decision::allowed).count();
    // every decision's Redis time lies in [first, last]: GCRA admits at most burst + refill over that span
    long bound = 100 + redisElapsedMs(decisions) * 100 / 60_000;
    assertThat(admitted).isBetween(100L, bound);
  }

  @Test
  void racingForLeasesAdmitsExactlyTheConcurrency() {
    CompiledPolicy p = policy().tier(tier("free").concurrency(5)).build();
    List<AdmitRequest> requests = Collections.synchronizedList(new ArrayList<>());
    List<Decision> decisions = race(1000, i -> {
      AdmitRequest r = metered(p, "alice", 1, 0);
      requests.add(r);
      return r;
    });
    assertThat(decisions.stream().filter(Decision::allowed).count()).isEqualTo(5);
    assertThat(call(admin, Command.ZCARD, P + "u:alice:conc").toLong()).isEqualTo(5);

    // churn: admit, hold, release, from all clients at once; never more than 5 held
    call(admin, Command.FLUSHALL);
    AtomicInteger inFlight = new AtomicInteger();
    AtomicInteger maxInFlight = new AtomicInteger();
    AtomicInteger held = new AtomicInteger();
    runOnClients(client -> {
      RedisLimiterStore store = stores.get(client);
      for (int i = 0; i < 150; i++) {
        AdmitRequest r = metered(p, "alice", 1, 0);
        if (await(store.admit(r)).allowed()) {
          held.incrementAndGet();
          maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
          inFlight.decrementAndGet();
          assertThat(await(store.release(r)).outcome()).isEqualTo(ReconcileResult.Outcome.RECONCILED);
        }
      }
    });
    assertThat(held.get()).isPositive();
    assertThat(maxInFlight.get()).isBetween(1, 5);
    assertThat(call(admin, Command.ZCARD, P + "u:alice:conc").toLong()).isZero();
  }

  @Test
  void racingSpendStaysWithinTheBudgetToTheMicroDollar() {
    CompiledPolicy p = policy().tier(tier("free").budget(1_000_000, BudgetPeriod.Monthly)).build();
    List<AdmitRequest> requests = Collections.synchronizedList(new ArrayList<>());
    List<Decision> decisions = race(1000, i -> {
      AdmitRequest r = metered(p, "alice", 10, 3000);
      requests.add(r);
      return r;
    });
    List<Decision> allowed = decisions.stream().filter(Decision::allowed).toList();
    assertThat(allowed).hasSize(333); // 333 × 3000 = 999 000 <= 1 000 000 < 334 × 3000
    String period = CalendarPeriod.MONTH.id(allowed.get(0).nowMs());
    assertThat(call(admin, Command.GET, P + "u:alice:budget").toString()).isEqualTo(period + ":999000");

    // settle every admitted request from all clients at once at 2000 each: the spend is exact
    List<AdmitRequest> admitted = new ArrayList<>();
    for (AdmitRequest r : requests) {
      if (call(admin, Command.EXISTS, P + "r:" + r.requestId()).toLong() == 1) {
        admitted.add(r);
      }
    }
    assertThat(admitted).hasSize(333);
    runOnClients(client -> {
      List<Future<ReconcileResult>> results = new ArrayList<>();
      for (int i = client; i < admitted.size(); i += CLIENTS) {
        // each request reconciled twice, by two different clients: applied once
        results.add(stores.get(client).reconcile(new ReconcileRequest(admitted.get(i), 10, 2000)));
        results.add(stores.get((client + 1) % CLIENTS)
            .reconcile(new ReconcileRequest(admitted.get(i), 10, 2000)));
      }
      await(Future.all(results));
    });
    assertThat(call(admin, Command.GET, P + "u:alice:budget").toString()).isEqualTo(period + ":666000");
    assertThat(call(admin, Command.HGET, P + "stats:" + period, "spendMicros").toLong()).isEqualTo(666_000);
    assertThat(call(admin, Command.ZSCORE, P + "top:" + period, "alice").toDouble()).isEqualTo(666_000.0);
  }

  /** {@code total} admits spread over all clients, each client pipelining its share, all starting together. */
  private List<Decision> race(int total, Function<Integer, AdmitRequest> request) {
    List<Decision> decisions = Collections.synchronizedList(new ArrayList<>());
    runOnClients(client -> {
      List<Future<Decision>> futures = new ArrayList<>();
      for (int i = client; i < total; i += CLIENTS) {
        futures.add(stores.get(client).admit(request.apply(i)));
      }
      await(Future.all(futures));
      futures.forEach(f -> decisions.add(f.result()));
    });
    assertThat(decisions).hasSize(total);
    return decisions;
  }

  private interface ClientTask {
    void run(int client) throws Exception;
  }

  private void runOnClients(ClientTask task) {
    ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
    CountDownLatch start = new CountDownLatch(1);
    List<java.util.concurrent.Future<?>> done = new ArrayList<>();
    for (int c = 0; c < CLIENTS; c++) {
      int client = c;
      done.add(pool.submit(() -> {
        start.await();
        task.run(client);
        return null;
      }));
    }
    start.countDown();
    try {
      for (var f : done) {
        f.get(60, TimeUnit.SECONDS);
      }
    } catch (Exception e) {
      throw new AssertionError(e);
    } finally {
      pool.shutdownNow();
    }
  }

  private static long redisElapsedMs(List<Decision> decisions) {
    long first = decisions.stream().mapToLong(Decision::nowMs).min().orElseThrow();
    long last = decisions.stream().mapToLong(Decision::nowMs).max().orElseThrow();
    return last - first;
  }

  private static AdmitRequest requestsOnly(CompiledPolicy p, String user) {
    return AdmitRequest.requestsOnly(p, java.util.UUID.randomUUID().toString(), user, p.tier("free").orElseThrow());
  }

  private static AdmitRequest metered(CompiledPolicy p, String user, long tokens, long cost) {
    return AdmitRequest.metered(p, java.util.UUID.randomUUID().toString(), user, p.tier("free").orElseThrow(), null,
        tokens, cost);
  }
}
