package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.periods.CalendarPeriod;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Reservations that don't block for nothing, on a simulated workload whose outputs (200 tokens) are
 * far below the asked cap (4,000): the same model reserving its cap refuses calls while the real
 * spend is a small part of the budget; reserving the 95th percentile of recent outputs does not, and
 * what a call uses beyond its reservation is still charged, the overshoot staying within its bound.
 */
class ObservedReservationIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: observed, namespace: observed-it}
      spec:
        tiers:
        - name: std
          budget: {usd: "0.05", period: Daily}
        models:
        - name: by-cap
          pricing: {inputPerMillion: "1.00", outputPerMillion: "5.00"}
        - name: by-percentile
          pricing: {inputPerMillion: "1.00", outputPerMillion: "5.00"}
          reserveOutputPercentile: 95
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;
  static final int CAP = 4_000;
  static final int CONCURRENT = 10;

  static SidecarFixture fixture;
  static StubLlmUpstream stub;
  static Sidecar sidecar;
  static final ExecutorService agents = Executors.newFixedThreadPool(CONCURRENT);

  @BeforeAll
  static void start() {
    fixture = new SidecarFixture();
    fixture.startRedis();
    stub = StubLlmUpstream.start();
    stub.outputTokens = 200;
    sidecar = fixture.sidecarFor(POLICY, "anthropic", stub);
    // history: 20 calls of the percentile model (another user, so its budget is untouched)
    for (int i = 0; i < 20; i++) {
      assertThat(call("warm-up", "by-percentile").statusCode()).isEqualTo(200);
    }
  }

  @AfterAll
  static void stop() {
    agents.shutdownNow();
    fixture.close();
    stub.close();
  }

  static String body(String model) {
    return "{\"model\":\"" + model + "\",\"max_tokens\":" + CAP + ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  }

  static HttpResponse<String> call(String user, String model) {
    return fixture.post(sidecar, "/v1/messages", body(model), "X-Ratekeeper-User", user);
  }

  /** {@link #CONCURRENT} calls at once for {@code user}; the statuses. */
  static List<Integer> round(String user, String model) {
    List<CompletableFuture<Integer>> calls = new ArrayList<>();
    for (int i = 0; i < CONCURRENT; i++) {
      calls.add(CompletableFuture.supplyAsync(() -> call(user, model).statusCode(), agents));
    }
    return calls.stream().map(CompletableFuture::join).toList();
  }

  static long spent(String user) {
    String value = fixture.redis("GET", "rk:{observed-it/observed}:u:" + user + ":budget");
    return value == null ? 0 : Long.parseLong(value.substring(value.indexOf(':') + 1));
  }

  @Test
  void reservingTheObservedPercentileRefusesNothingWhileTheCapWouldRefuseMost() throws Exception {
    // each call really costs ~25 x 1 + 200 x 5 = ~1,025 micro-dollars; its cap would cost ~20,000
    List<Integer> byCap = round("cap-user", "by-cap");
    List<Integer> byPercentile = round("percentile-user", "by-percentile");
    long falseRefusals = byCap.stream().filter(s -> s == 429).count();
    System.out.printf("10 calls at once, budget $0.05, outputs 200 of a 4,000 cap: reserving the cap %d x 429,"
        + " reserving p95 %d x 429%n", falseRefusals, byPercentile.stream().filter(s -> s == 429).count());
    assertThat(falseRefusals).as("the cap's reservations refuse calls the budget could pay").isGreaterThan(5);
    assertThat(byPercentile).as("the observed percentile's do not").containsOnly(200);
    Thread.sleep(300); // reconciles follow the answers
    assertThat(spent("percentile-user")).as("every call charged its real usage").isBetween(10_000L, 11_000L);
  }

  @Test
  void aCallUsingMoreThanItReservedIsChargedAndTheOvershootStaysWithinItsBound() throws Exception {
    String user = "overshoot-user";
    // spend the budget down to one reservation's worth, with outputs as observed
    while (spent(user) < 48_000) {
      if (call(user, "by-percentile").statusCode() != 200) {
        break;
      }
      Thread.sleep(20); // each reconcile lands before the next call (one Redis round trip)
    }
    // then the model suddenly writes its whole cap, 10 calls at once: each reserved ~1,025
    stub.outputTokens = CAP;
    List<Integer> statuses = round(user, "by-percentile");
    stub.outputTokens = 200;
    Thread.sleep(300);
    long spent = spent(user);
    long admitted = statuses.stream().filter(s -> s == 200).count();
    long bound = admitted * (CAP - 200) * 5L; // per call: (cap - reservation) output tokens at 5 $/M
    System.out.printf("outputs jump to the cap: %d of 10 admitted, spend %d of 50,000 micro-dollars"
        + " (overshoot %d, bound %d)%n", admitted, spent, Math.max(0, spent - 50_000), bound);
    assertThat(spent - 50_000).as("overshoot within (cap - reservation) of the calls in flight").isLessThanOrEqualTo(bound);
    assertThat(call(user, "by-percentile").statusCode()).as("an overspent budget refuses").isEqualTo(429);
  }
}
