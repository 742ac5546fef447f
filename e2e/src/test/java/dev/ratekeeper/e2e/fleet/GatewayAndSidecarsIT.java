package dev.ratekeeper.e2e.fleet;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.e2e.fleet.Fleet.Sidecar;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Sidecars and a shared gateway enforce one policy on one Redis at the same time: two sidecar
 * processes and one gateway process ({@code --mode gateway}), all from the built jar, on one
 * redis-server, called at once by concurrent clients on fresh connections. Sidecar clients name the
 * user in {@code X-Ratekeeper-User}; gateway clients by the user's own key. A user's tier burst, a
 * tier's share and the global burst each admit exactly their size across the three processes, round
 * after round, and the global budget holds exactly the cost of every admitted call (the stub answers
 * every call with the same usage, so each costs the same).
 */
class GatewayAndSidecarsIT {
  static final int SIDECARS = 2;
  static final int PER_PROCESS = 60;
  static final int ROUNDS = 5;
  static final int USERS = 30;
  static final String HELD_KEY = "sk-ant-held-by-the-gateway";
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: shared, namespace: gateway-e2e}
      spec:
        defaultTier: free
        users:
        - {id: alice, tier: solo}
        tiers:
        - name: free
          requests: {perMinute: 1000000, burst: 1000000}
          globalShare: 50
        - name: solo
          requests: {perMinute: 1, burst: 17}
        models:
        - name: claude-haiku-4-5
          pricing: {inputPerMillion: "1.00", outputPerMillion: "5.00"}
        global:
          requests: {perMinute: 1, burst: 40}
          budget: {usd: "1000.00", period: Monthly}
        upstreams:
        - {name: anthropic, url: "http://127.0.0.1:%d", format: anthropic}
        onStoreUnavailable: FailClosed
      """;
  static final String PREFIX = "rk:{gateway-e2e/shared}:";

  static Fleet fleet;
  static ExecutorService pool;
  static List<Sidecar> sidecars;
  static Sidecar gateway;

  @BeforeAll
  static void start() throws IOException {
    fleet = new Fleet().startRedis(null).startStub();
    pool = Executors.newFixedThreadPool((SIDECARS + 1) * PER_PROCESS);
    Path policy = fleet.writePolicy(POLICY);
    Path keys = Files.createTempFile("gateway-keys", ".txt");
    StringBuilder lines = new StringBuilder("alice: " + keyOf("alice") + "\n");
    for (int i = 0; i < USERS; i++) {
      lines.append("user-").append(i).append(": ").append(keyOf("user-" + i)).append('\n');
    }
    Files.writeString(keys, lines);
    sidecars = fleet.startSidecars("with-gateway-sidecar", SIDECARS, policy, Map.of());
    gateway = fleet.startSidecars("gateway", 1, policy, Map.of("RATEKEEPER_UPSTREAM_KEY_ANTHROPIC", HELD_KEY),
        "--mode", "gateway", "--api-keys-file", keys.toString()).get(0);
  }

  @AfterAll
  static void stop() {
    pool.shutdownNow();
    fleet.close();
  }

  static String keyOf(String user) {
    return "rk-e2e-" + user + "-0123456789abcdef";
  }

  @Test
  void oneUsersBurstHoldsExactlyAcrossSidecarsAndGateway() throws Exception {
    for (int round = 1; round <= ROUNDS; round++) {
      fleet.redis("DEL", PREFIX + "u:alice:req", PREFIX + "g:req"); // full buckets at the start of each round
      Map<Integer, Integer> statuses = burst(i -> "alice");
      System.out.printf("alice (burst 17) from %d sidecars and a gateway, round %d: %s%n", SIDECARS, round, statuses);
      assertThat(statuses).as("round %d", round)
          .isEqualTo(Map.of(200, 17, 429, (SIDECARS + 1) * PER_PROCESS - 17));
    }
  }

  /** One by one, so which process admits what is known: what alice spends at one is spent at the other. */
  @Test
  void whatAUserSpendsThroughSidecarsIsSpentAtTheGatewayAndBack() {
    fleet.redis("DEL", PREFIX + "u:alice:req", PREFIX + "g:req");
    for (int i = 0; i < 17; i++) {
      assertThat(Fleet.call(sidecars.get(i % SIDECARS).proxyPort(), "alice")).as("call %d", i).isEqualTo(200);
    }
    Fleet.Answer atGateway = Fleet.exchange(gateway.proxyPort(), "X-Ratekeeper-Api-Key", keyOf("alice"));
    assertThat(atGateway.status()).as("alice's burst, spent through the sidecars").isEqualTo(429);

    fleet.redis("DEL", PREFIX + "u:alice:req", PREFIX + "g:req");
    for (int i = 0; i < 17; i++) {
      assertThat(Fleet.exchange(gateway.proxyPort(), "X-Ratekeeper-Api-Key", keyOf("alice")).status())
          .as("call %d", i).isEqualTo(200);
    }
    for (Sidecar sidecar : sidecars) {
      assertThat(Fleet.call(sidecar.proxyPort(), "alice")).as("alice's burst, spent at the gateway").isEqualTo(429);
    }
  }

  @Test
  void aTiersShareOfTheGlobalBurstHoldsExactlyAcrossSidecarsAndGatewayForManyUsers() throws Exception {
    for (int round = 1; round <= ROUNDS; round++) {
      fleet.redis("DEL", PREFIX + "g:req", PREFIX + "t:free:greq");
      Map<Integer, Integer> statuses = burst(i -> "user-" + (i % USERS));
      System.out.printf("global burst 40 (free tier's share 20) from %d sidecars and a gateway, round %d: %s%n",
          SIDECARS, round, statuses);
      // every caller is on free, whose globalShare is 50% of the global burst of 40
      assertThat(statuses).as("round %d", round)
          .isEqualTo(Map.of(200, 20, 429, (SIDECARS + 1) * PER_PROCESS - 20));
    }
  }

  @Test
  void theGlobalBudgetHoldsExactlyTheCostOfEveryCallAdmittedByEither() throws Exception {
    String budget = PREFIX + "g:budget";
    long before = settled(budget);
    int admitted = 0;
    for (int round = 0; round < 3; round++) {
      fleet.redis("DEL", PREFIX + "g:req", PREFIX + "t:free:greq");
      admitted += burst(i -> "user-" + (i % USERS)).getOrDefault(200, 0);
    }
    assertThat(admitted).isEqualTo(60);
    // one call alone, through the gateway, gives the cost of one
    fleet.redis("DEL", PREFIX + "g:req", PREFIX + "t:free:greq");
    long beforeOne = settled(budget) - before;
    assertThat(Fleet.exchange(gateway.proxyPort(), "X-Ratekeeper-Api-Key", keyOf("user-0")).status()).isEqualTo(200);
    long one = settled(budget) - before - beforeOne;
    assertThat(one).isPositive();
    assertThat(beforeOne).as("the budget holds every admitted call's cost, sidecar or gateway")
        .isEqualTo(one * admitted);
  }

  /**
   * {@link #PER_PROCESS} calls to each sidecar (user header) and to the gateway (the user's key) at
   * once, each on a fresh connection; the caller of call i is {@code userOf(i)}; statuses counted.
   */
  static Map<Integer, Integer> burst(java.util.function.IntFunction<String> userOf) throws Exception {
    CountDownLatch go = new CountDownLatch(1);
    List<Future<Integer>> calls = new ArrayList<>();
    int n = 0;
    List<Sidecar> all = new ArrayList<>(sidecars);
    all.add(gateway);
    for (Sidecar target : all) {
      boolean isGateway = target == gateway;
      for (int i = 0; i < PER_PROCESS; i++) {
        String user = userOf.apply(n++);
        calls.add(pool.submit(() -> {
          go.await();
          return isGateway ? Fleet.exchange(target.proxyPort(), "X-Ratekeeper-Api-Key", keyOf(user)).status()
              : Fleet.call(target.proxyPort(), user);
        }));
      }
    }
    go.countDown();
    Map<Integer, Integer> statuses = new TreeMap<>();
    Map<String, Map<Integer, Integer>> byProcess = new TreeMap<>();
    for (int i = 0; i < calls.size(); i++) {
      int status = calls.get(i).get(60, TimeUnit.SECONDS);
      statuses.merge(status, 1, Integer::sum);
      byProcess.computeIfAbsent(all.get(i / PER_PROCESS).name(), k -> new TreeMap<>()).merge(status, 1, Integer::sum);
    }
    System.out.println("  by process: " + byProcess);
    return statuses;
  }

  /** The global budget counter in micro-dollars once reconciles have landed (two reads agree). */
  private static long settled(String key) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    long last = -1;
    while (System.nanoTime() < deadline) {
      String value = fleet.redis("GET", key);
      long now = value == null ? 0 : Long.parseLong(value.substring(value.indexOf(':') + 1));
      if (now == last) {
        return now;
      }
      last = now;
      Thread.sleep(300); // poll the counter until two reads agree
    }
    throw new AssertionError("budget counter " + key + " did not settle: " + last);
  }
}
