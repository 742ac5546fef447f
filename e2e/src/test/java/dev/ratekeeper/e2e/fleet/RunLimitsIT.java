package dev.ratekeeper.e2e.fleet;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.e2e.fleet.Fleet.Sidecar;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
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
 * Agent runs across sidecar processes: one user's run, called at once through three sidecars, is
 * held to exactly its request cap, and its spend never passes its budget (the per-session overshoot
 * of charging only afterwards cannot happen: every call reserves before it is sent).
 */
class RunLimitsIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: runs}
      spec:
        defaultTier: agents
        tiers:
        - name: agents
          run: {requests: 25, usd: "0.002", idleTimeout: 10m}
        models:
        - name: claude-haiku-4-5
          pricing: {inputPerMillion: "1.00", outputPerMillion: "5.00"}
        budgets: {warnAtPercent: 80}
        upstreams:
        - {name: anthropic, url: "http://127.0.0.1:%d", format: anthropic}
      """;
  static final String RUN_HEADER = "X-Ratekeeper-Run";
  static Fleet fleet;
  static List<Sidecar> sidecars;
  static ExecutorService pool = Executors.newFixedThreadPool(300);
  static final HttpClient http = HttpClient.newHttpClient();

  @BeforeAll
  static void start() {
    fleet = new Fleet().startRedis(null).startStub();
    sidecars = fleet.startSidecars("runs", 3, POLICY);
  }

  @AfterAll
  static void stop() {
    pool.shutdownNow();
    fleet.close();
  }

  @Test
  void aRunIsHeldToExactlyItsRequestCapAcrossSidecars() throws Exception {
    Map<Integer, Integer> statuses = burst("alice", "cheap-run", 100, "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":1,"
        + "\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}");
    System.out.printf("run of 25 calls, 300 at once over 3 sidecars: %s%n", statuses);
    // each call here reserves a few micro-dollars: the 25-call cap binds before the budget
    assertThat(statuses).isEqualTo(Map.of(200, 25, 429, 275));

    HttpResponse<String> denied = call(sidecars.get(1), "alice", "cheap-run", Fleet.BODY);
    assertThat(denied.statusCode()).isEqualTo(429);
    assertThat(denied.headers().firstValue("x-ratekeeper-limited-by")).hasValue("run.requests");
    assertThat(denied.headers().firstValue("x-should-retry")).hasValue("false");
    assertThat(denied.body()).contains("\"type\":\"rate_limit_error\"");
    assertThat(call(sidecars.get(1), "alice", "another-run", Fleet.BODY).statusCode()).as("another run").isEqualTo(200);
    assertThat(call(sidecars.get(1), "alice", null, Fleet.BODY).statusCode()).as("outside any run").isEqualTo(200);
    assertThat(call(sidecars.get(1), "alice", "x".repeat(129), Fleet.BODY).statusCode()).as("run name too long")
        .isEqualTo(400);
  }

  @Test
  void aRunsSpendNeverPassesItsBudget() throws Exception {
    String body = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":100,"
        + "\"messages\":[{\"role\":\"user\",\"content\":\"plan the next step\"}]}";
    Map<Integer, Integer> statuses = burst("bob", "costly", 100, body);
    System.out.printf("run budget $0.002, 300 calls at once over 3 sidecars: %s%n", statuses);
    assertThat(statuses.get(200)).as("some calls fit").isPositive().isLessThan(25);
    String key = "rk:{default/runs}:u:bob:run:costly:budget";
    long spend = settled(key);
    System.out.printf("run spend after every reconcile: %d of 2000 micro-dollars%n", spend);
    assertThat(spend).as("spend of the run, every call reconciled").isPositive().isLessThanOrEqualTo(2_000);

    // then one call after the other until the run's budget no longer pays for the next reservation
    HttpResponse<String> last = null;
    List<String> warnings = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      settled(key); // each call after the previous one's usage is in (reconcile follows the answer)
      last = call(sidecars.get(i % 3), "bob", "costly", body);
      if (last.statusCode() != 200) {
        break;
      }
      last.headers().firstValue("x-ratekeeper-budget-warning").ifPresent(warnings::add);
    }
    assertThat(warnings).as("warned at 80 % of the run's budget").isNotEmpty()
        .allSatisfy(w -> assertThat(w).startsWith("run.budget "));
    assertThat(last.statusCode()).isEqualTo(429);
    assertThat(last.headers().firstValue("x-ratekeeper-limited-by")).hasValue("run.budget");
    assertThat(last.headers().firstValue("x-should-retry")).hasValue("false");
    long spent = settled(key);
    System.out.printf("run spent %d of 2000 micro-dollars when refused%n", spent);
    assertThat(spent).as("spent up to what one more reservation (about 510) no longer fits")
        .isBetween(2_000L - 600, 2_000L);
    HttpResponse<String> fresh = call(sidecars.get(2), "bob", "fresh", body);
    assertThat(fresh.statusCode()).as("another run of the same user").isEqualTo(200);
    assertThat(fresh.headers().firstValue("x-ratekeeper-budget-warning")).isEmpty();
  }

  /** {@code perSidecar} calls to each sidecar at once in one run of {@code user}; statuses counted. */
  private static Map<Integer, Integer> burst(String user, String run, int perSidecar, String body) throws Exception {
    CountDownLatch go = new CountDownLatch(1);
    List<Future<Integer>> calls = new ArrayList<>();
    for (Sidecar sidecar : sidecars) {
      for (int i = 0; i < perSidecar; i++) {
        calls.add(pool.submit(() -> {
          go.await();
          return call(sidecar, user, run, body).statusCode();
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

  private static HttpResponse<String> call(Sidecar sidecar, String user, String run, String body) throws Exception {
    HttpRequest.Builder request = HttpRequest.newBuilder(
            URI.create("http://127.0.0.1:" + sidecar.proxyPort() + "/anthropic/v1/messages"))
        .header("content-type", "application/json").header("anthropic-version", "2023-06-01")
        .header("x-api-key", "sk-test").header("X-Ratekeeper-User", user)
        .POST(HttpRequest.BodyPublishers.ofString(body));
    if (run != null) {
      request.header(RUN_HEADER, run);
    }
    return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  /** The run's budget counter once every reconcile has landed (two equal reads 200 ms apart). */
  private static long settled(String key) throws InterruptedException {
    long last = -1;
    for (int i = 0; i < 50; i++) {
      String value = fleet.redis("GET", key);
      long now = value == null ? 0 : Long.parseLong(value.substring(value.indexOf(':') + 1));
      if (now == last) {
        return now;
      }
      last = now;
      Thread.sleep(200); // poll until the reconciles behind the answers are in
    }
    return last;
  }
}
