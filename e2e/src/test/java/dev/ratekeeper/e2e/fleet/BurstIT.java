package dev.ratekeeper.e2e.fleet;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.e2e.fleet.Fleet.Sidecar;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Bursts across sidecar processes on a healthy Redis: three sidecars (the built jar, default JVM
 * flags) on one redis-server, each sent 100 calls at once on fresh connections, ten rounds. A healthy
 * Redis never looks like an outage; a global limit admits exactly its burst every round; a short
 * pause of Redis is ridden out, a long one engages the failure mode within a second and ends within
 * a second of Redis answering; a stopped Redis over-admits nothing and loses no budget.
 */
class BurstIT {
  static final int SIDECARS = 3;
  static final int CONCURRENT = 100;
  static final int ROUNDS = 10;
  static final String OUTAGE_LOG = "Redis unavailable";
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: %s}
      spec:
        defaultTier: premium
        tiers:
        - name: premium
          requests: {perMinute: 1000000, burst: 1000000}
        models:
        - name: claude-haiku-4-5
          pricing: {inputPerMillion: "1.00", outputPerMillion: "5.00"}
        global:
          requests: {perMinute: 1, burst: %d}
          budget: {usd: "1000.00", period: Monthly}
        upstreams:
        - {name: anthropic, url: "http://127.0.0.1:%%d", format: anthropic}
        onStoreUnavailable: FailClosed
      """;
  static Fleet fleet;
  static ExecutorService pool;

  @BeforeAll
  static void start() {
    fleet = new Fleet().startRedis(null).startStub();
    pool = Executors.newFixedThreadPool(SIDECARS * CONCURRENT);
  }

  @AfterAll
  static void stop() {
    pool.shutdownNow();
    fleet.close();
  }

  @Test
  void aHealthyRedisNeverLooksLikeAnOutage() throws Exception {
    List<Sidecar> sidecars = fleet.startSidecars("healthy", SIDECARS, POLICY.formatted("healthy", 1_000_000));
    for (int round = 1; round <= ROUNDS; round++) {
      Map<Integer, Integer> statuses = burst(sidecars, "round" + round);
      System.out.printf("healthy Redis, round %d: %s%n", round, statuses);
      assertThat(statuses).as("round %d: every call answered 200", round).containsOnlyKeys(200);
    }
    for (Sidecar sidecar : sidecars) {
      assertThat(sidecar.log()).as(sidecar.name()).doesNotContain(OUTAGE_LOG);
      assertThat(fleet.metric(sidecar, "ratekeeper_store_events_total", "outage")).isZero();
      System.out.printf("%s decision seconds: max %.4f%n", sidecar.name(),
          fleet.metric(sidecar, "ratekeeper_decision_seconds_max", ""));
    }
    fleet.stop(sidecars);
  }

  @Test
  void aGlobalLimitAdmitsExactlyItsBurstEveryRound() throws Exception {
    int burst = 30; // refill 1 a minute: none during a round
    List<Sidecar> sidecars = fleet.startSidecars("exact", SIDECARS, POLICY.formatted("exact", burst));
    String bucket = "rk:{default/exact}:g:req";
    for (int round = 1; round <= ROUNDS; round++) {
      fleet.redis("DEL", bucket); // a full bucket at the start of each round
      Map<Integer, Integer> statuses = burst(sidecars, "exact" + round);
      System.out.printf("global burst %d, round %d: %s%n", burst, round, statuses);
      assertThat(statuses).as("round %d", round).isEqualTo(Map.of(200, burst, 429, SIDECARS * CONCURRENT - burst));
    }
    for (Sidecar sidecar : sidecars) {
      assertThat(sidecar.log()).as(sidecar.name()).doesNotContain(OUTAGE_LOG);
    }
    fleet.stop(sidecars);
  }

  @Test
  void aShortPauseIsRiddenOutALongOneEngagesTheFailureModeWithinASecond() throws Exception {
    List<Sidecar> sidecars = fleet.startSidecars("pause", SIDECARS, POLICY.formatted("pause", 1_000_000));
    try (SteadyLoad load = new SteadyLoad(sidecars)) {
      Thread.sleep(500); // load running before the pause
      fleet.redis("CLIENT", "PAUSE", "100", "ALL");
      Thread.sleep(1_000); // load during and after the short pause
      assertThat(load.statusesSince(0)).as("a 100 ms pause").containsOnlyKeys(200);
      for (Sidecar sidecar : sidecars) {
        assertThat(sidecar.log()).as(sidecar.name()).doesNotContain(OUTAGE_LOG);
      }

      long pausedAt = System.nanoTime();
      fleet.redis("CLIENT", "PAUSE", "2000", "ALL");
      long answersAt = pausedAt + TimeUnit.MILLISECONDS.toNanos(2_000);
      Thread.sleep(3_500);
      long firstRefusal = load.first(503, pausedAt);
      long firstAdmissionAfter = load.first(200, answersAt);
      System.out.printf("2 s pause: failure mode after %d ms, back %d ms after Redis answered%n",
          (firstRefusal - pausedAt) / 1_000_000, (firstAdmissionAfter - answersAt) / 1_000_000);
      assertThat(firstRefusal - pausedAt).as("FailClosed engaged within 1 s").isBetween(0L, 1_000_000_000L);
      assertThat(firstAdmissionAfter - answersAt).as("back within 1 s of Redis answering")
          .isBetween(0L, 1_000_000_000L);
    }
    for (Sidecar sidecar : sidecars) {
      assertThat(sidecar.log()).as(sidecar.name()).contains(OUTAGE_LOG).contains("Redis is back");
    }
    fleet.stop(sidecars);
  }

  @Test
  void aStoppedRedisOverAdmitsNothingAndLosesNoBudget() throws Exception {
    int burst = 400;
    List<Sidecar> sidecars = fleet.startSidecars("sigstop", SIDECARS, POLICY.formatted("sigstop", burst));
    String budgetKey = "rk:{default/sigstop}:g:budget";
    assertThat(Fleet.call(sidecars.get(0).proxyPort(), "warm-up")).isEqualTo(200);
    long costOfOne = awaitBudget(budgetKey, 1);
    int admitted = 1;
    try (SteadyLoad load = new SteadyLoad(sidecars)) {
      Thread.sleep(500);
      fleet.signalRedis("STOP");
      Thread.sleep(1_500);
      fleet.signalRedis("CONT");
      Thread.sleep(1_000);
      load.close();
      admitted += load.count(200);
      System.out.printf("SIGSTOP 1.5 s under load: %s%n", load.statusesSince(0));
      assertThat(load.count(503)).as("refused while Redis was stopped").isPositive();
    }
    // every refused call's charge was given back: exactly burst - admitted more fit (bursts until one is refused)
    int rest = 0;
    for (int round = 0; round < 5; round++) {
      Map<Integer, Integer> statuses = burst(sidecars, "rest" + round);
      rest += statuses.getOrDefault(200, 0);
      System.out.printf("after SIGCONT, %d admitted before; a burst of %d: %s%n", admitted, SIDECARS * CONCURRENT,
          statuses);
      if (statuses.getOrDefault(429, 0) > 0) {
        break;
      }
    }
    assertThat(admitted + rest).as("admitted in all = the global burst (+1 refill a minute)")
        .isBetween(burst, burst + 1);
    int all = admitted + rest;
    assertThat(awaitBudget(budgetKey, all)).as("the global budget holds every admitted call's cost")
        .isEqualTo(costOfOne * all);
    fleet.stop(sidecars);
  }

  /** Waits until the global budget counter has settled (reconciles land after the answers); its value. */
  private long awaitBudget(String key, int calls) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    long last = -1;
    while (System.nanoTime() < deadline) {
      String value = fleet.redis("GET", key);
      long now = value == null ? 0 : Long.parseLong(value.substring(value.indexOf(':') + 1));
      if (now == last && now > 0) {
        return now;
      }
      last = now;
      Thread.sleep(200); // poll the counter until two reads agree
    }
    throw new AssertionError("budget counter " + key + " did not settle for " + calls + " calls: " + last);
  }

  /** {@link #CONCURRENT} calls to each sidecar at once, each on a fresh connection; statuses counted. */
  static Map<Integer, Integer> burst(List<Sidecar> sidecars, String userPrefix) throws Exception {
    CountDownLatch go = new CountDownLatch(1);
    List<Future<Integer>> calls = new ArrayList<>();
    int n = 0;
    for (Sidecar sidecar : sidecars) {
      for (int i = 0; i < CONCURRENT; i++) {
        String user = userPrefix + "-" + (n++ % 50);
        calls.add(pool.submit(() -> {
          go.await();
          return Fleet.call(sidecar.proxyPort(), user);
        }));
      }
    }
    go.countDown();
    Map<Integer, Integer> statuses = new TreeMap<>();
    for (Future<Integer> call : calls) {
      statuses.merge(call.get(60, TimeUnit.SECONDS), 1, Integer::sum);
    }
    return statuses;
  }

  /** A call to every sidecar every 20 ms on fresh connections, answers kept with when they came. */
  static final class SteadyLoad implements AutoCloseable {
    record Answer(long atNanos, int status) {}

    private final ConcurrentLinkedQueue<Answer> answers = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final List<Thread> threads = new ArrayList<>();

    SteadyLoad(List<Sidecar> sidecars) {
      for (Sidecar sidecar : sidecars) {
        for (int lane = 0; lane < 4; lane++) {
          String user = sidecar.name() + "-lane" + lane;
          Thread thread = new Thread(() -> {
            while (running.get()) {
              int status = Fleet.call(sidecar.proxyPort(), user);
              answers.add(new Answer(System.nanoTime(), status));
              try {
                Thread.sleep(20); // the load's own pacing, not a wait for a window
              } catch (InterruptedException e) {
                return;
              }
            }
          });
          thread.start();
          threads.add(thread);
        }
      }
    }

    Map<Integer, Integer> statusesSince(long nanos) {
      Map<Integer, Integer> out = new TreeMap<>();
      answers.stream().filter(a -> a.atNanos() >= nanos).forEach(a -> out.merge(a.status(), 1, Integer::sum));
      return out;
    }

    int count(int status) {
      return (int) answers.stream().filter(a -> a.status() == status).count();
    }

    /** When the first answer with {@code status} came at or after {@code nanos}; fails when none did. */
    long first(int status, long nanos) {
      return answers.stream().filter(a -> a.status() == status && a.atNanos() >= nanos).mapToLong(Answer::atNanos)
          .min().orElseThrow(() -> new AssertionError("no " + status + " after the mark: " + statusesSince(nanos)));
    }

    @Override
    public void close() {
      running.set(false);
      for (Thread thread : threads) {
        try {
          thread.join(20_000);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }
  }
}
