package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A real Redis stopped and started again under load, for each {@code onStoreUnavailable} mode: no
 * crash, no request waits beyond a short timeout, readiness as the mode says, back on Redis within
 * 2 s of its return, and the usage seen meanwhile added to Redis.
 */
class StoreOutageIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: %s, namespace: outage-it}
      spec:
        tiers:
        - name: everyone
          requests: {perMinute: 1, burst: 10}
        onStoreUnavailable: %s
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;
  static final String BODY = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":15,\"messages\":[]}";

  static SidecarFixture fixture;
  static StubLlmUpstream stub;

  @BeforeAll
  static void start() {
    fixture = new SidecarFixture();
    fixture.startRedis();
    stub = StubLlmUpstream.start(); // reports 25 input + 15 output tokens a call
  }

  @AfterAll
  static void stop() {
    fixture.close();
    stub.close();
  }

  private static List<Sidecar> fleet(String name, String mode) {
    Path policy = SidecarFixture.policyFile(POLICY.formatted(name, mode));
    List<Sidecar> fleet = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      fleet.add(fixture.sidecar(Map.of(), "--policy-file", policy.toString(), "--redis", fixture.redisUrl(),
          "--upstream", "anthropic=" + stub.url(), "--sidecar-id", name + "-" + i));
    }
    return fleet;
  }

  /** Background load: many users, both sidecars, until stopped; records the slowest answer. */
  private static final class Load implements AutoCloseable {
    final AtomicBoolean running = new AtomicBoolean(true);
    final AtomicLong slowestMs = new AtomicLong();
    final Map<Integer, AtomicLong> statuses = new ConcurrentHashMap<>();
    final ExecutorService pool = Executors.newFixedThreadPool(3);
    final List<Future<?>> workers = new ArrayList<>();

    Load(List<Sidecar> fleet, String usersPrefix) {
      for (int w = 0; w < 3; w++) {
        int worker = w;
        workers.add(pool.submit(() -> {
          long n = 0;
          while (running.get()) {
            long start = System.nanoTime();
            HttpResponse<String> resp = fixture.post(fleet.get((int) (n % 2)), "/v1/messages", BODY,
                "X-Ratekeeper-User", usersPrefix + worker + "-" + (n++ % 50));
            slowestMs.accumulateAndGet((System.nanoTime() - start) / 1_000_000, Math::max);
            statuses.computeIfAbsent(resp.statusCode(), s -> new AtomicLong()).incrementAndGet();
          }
          return null;
        }));
      }
    }

    @Override
    public void close() throws Exception {
      running.set(false);
      for (Future<?> f : workers) {
        f.get();
      }
      pool.shutdown();
    }
  }

  private static int status(Sidecar sidecar, String user) {
    return fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", user).statusCode();
  }

  /**
   * Stops Redis, runs {@code during} while it is away, restarts it and waits for the fleet to be back on it.
   * These waits stay real: a redis-server process stops and starts, the sidecars notice by their sockets
   * (no clock is involved), and being back within 2 s of Redis' return is a promise in real time.
   */
  private static void outage(List<Sidecar> fleet, Runnable during) {
    fixture.stopRedis();
    await().atMost(Duration.ofSeconds(3)).until(() -> {
      status(fleet.get(0), "probe");
      status(fleet.get(1), "probe");
      return !fleet.get(0).storeUp() && !fleet.get(1).storeUp();
    });
    assertThat(fixture.metric(fleet.get(0), "ratekeeper_store_up")).isZero();
    during.run();
    fixture.restartRedis();
    long back = System.nanoTime();
    await().atMost(Duration.ofSeconds(2)).until(() -> fleet.stream().allMatch(Sidecar::storeUp));
    assertThat((System.nanoTime() - back) / 1_000_000).isLessThanOrEqualTo(2_000);
    assertThat(fixture.metric(fleet.get(0), "ratekeeper_store_up")).isEqualTo(1);
  }

  @Test
  void failOpenForwardsUnmeteredAndAddsTheSpendToRedisOnceBack() throws Exception {
    List<Sidecar> fleet = fleet("open", "FailOpen");
    try (Load load = new Load(fleet, "open-load-")) {
      outage(fleet, () -> {
        for (int i = 0; i < 15; i++) {
          assertThat(status(fleet.get(i % 2), "open-user")).isEqualTo(200); // beyond its burst of 10
        }
        assertThat(fixture.get(fleet.get(0).adminPort(), "/readyz").statusCode()).isEqualTo(200);
      });
      assertThat(load.slowestMs.get()).isLessThan(1_500);
    }
    // Redis came back empty: what it now holds for open-user is exactly the replayed usage, 15 x 40 tokens
    await().atMost(Duration.ofSeconds(3)).untilAsserted(() -> assertThat(fixture.redisLong("HGET",
        fixture.redisKey("rk:{outage-it/open}:top:*:tokens"), "open-user")).isEqualTo(15 * 40));
  }

  @Test
  void failClosedAnswers503AndIsNotReadyUntilRedisIsBack() throws Exception {
    List<Sidecar> fleet = fleet("closed", "FailClosed");
    try (Load load = new Load(fleet, "closed-load-")) {
      outage(fleet, () -> {
        HttpResponse<String> resp = fixture.post(fleet.get(0), "/v1/messages", BODY, "X-Ratekeeper-User", "c");
        assertThat(resp.statusCode()).isEqualTo(503);
        assertThat(resp.body()).contains("\"type\":\"error\"").contains("api_error");
        assertThat(fixture.get(fleet.get(0).adminPort(), "/readyz").statusCode()).isEqualTo(503);
      });
      assertThat(load.slowestMs.get()).isLessThan(1_500);
      assertThat(load.statuses).containsKey(503);
    }
    assertThat(fixture.get(fleet.get(0).adminPort(), "/readyz").statusCode()).isEqualTo(200);
    assertThat(status(fleet.get(1), "closed-after")).isEqualTo(200);
  }

  @Test
  void localFallbackEnforcesEachSidecarsShareAndAddsTheSpendToRedisOnceBack() throws Exception {
    List<Sidecar> fleet = fleet("local", "LocalFallback");
    // both sidecars have sent heartbeats and counted each other (counted now, not at the next periodic count)
    await().atMost(Duration.ofSeconds(5)).until(() -> fleet.stream()
        .allMatch(s -> SidecarFixture.await(s.countLiveSidecars()) == 2));
    try (Load load = new Load(fleet, "local-load-")) {
      outage(fleet, () -> {
        // burst 10 split over 2 live sidecars: 5 each for a fresh user
        int ok = 0;
        for (int i = 0; i < 10; i++) {
          ok += status(fleet.get(0), "local-user") == 200 ? 1 : 0;
        }
        assertThat(ok).isEqualTo(5);
        assertThat(fixture.get(fleet.get(0).adminPort(), "/readyz").statusCode()).isEqualTo(200);
      });
      assertThat(load.slowestMs.get()).isLessThan(1_500);
    }
    // the 5 calls admitted in memory reach Redis: 5 x 40 tokens
    await().atMost(Duration.ofSeconds(3)).untilAsserted(() -> assertThat(fixture.redisLong("HGET",
        fixture.redisKey("rk:{outage-it/local}:top:*:tokens"), "local-user")).isEqualTo(5 * 40));
  }
}
