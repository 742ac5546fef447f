package dev.ratekeeper.sidecar.fault;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.ratekeeper.policy.keys.RedisKeys;
import dev.ratekeeper.sidecar.it.SidecarFixture;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.sidecar.time.ShiftedClock;
import dev.ratekeeper.sidecar.upstream.CooldownLength;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A provider throttle storm: the stub answers every call with 429 (with {@code retry-after}, or
 * with no hint at all) or 529 overloaded, while 16 clients call 4 sidecars as fast as they answer.
 * The provider sees a bounded number of calls (the calls in flight when each cooldown episode
 * starts, one probe per half-open episode), every other answer is Ratekeeper's 429
 * {@code upstream.cooldown} with {@code retry-after}, no sidecar fails, and traffic resumes once the
 * provider answers normally.
 */
class ThrottleStormIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: %s, namespace: fault}
      spec:
        tiers:
        - name: everyone
          requests: {perMinute: 60000000}
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;
  static final String BODY = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,\"messages\":[]}";
  static final int SIDECARS = 4;
  static final int CLIENTS = 16;
  static final long STORM_MS = 1_500;

  /** Real time for the storm (cooldowns end during it); jumped ahead after it instead of waiting. */
  static final ShiftedClock clock = new ShiftedClock();
  static SidecarFixture fixture;
  static StubLlmUpstream stub;

  @BeforeAll
  static void start() {
    fixture = new SidecarFixture().clock(clock);
    fixture.startRedis();
    stub = StubLlmUpstream.start();
  }

  @AfterAll
  static void stop() {
    fixture.close();
    stub.close();
  }

  @BeforeEach
  void resetStub() {
    stub.reset();
  }

  /** What the clients saw during the storm. */
  private static final class Seen {
    final AtomicLong attempts = new AtomicLong();
    final AtomicLong relayed = new AtomicLong();
    final AtomicLong cooldowns = new AtomicLong();
    final Map<String, AtomicLong> wrong = new ConcurrentHashMap<>();

    void wrong(String what) {
      wrong.computeIfAbsent(what, k -> new AtomicLong()).incrementAndGet();
    }
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "429 with retry-after | 429 | retry-after | 1 | {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}",
      "429 without any hint | 429 | | | {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}",
      "529 overloaded | 529 | | | {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"})
  void theProviderSeesABoundedNumberOfCallsAndTrafficResumesAfter(String label, int status, String header,
      String value, String providerBody) throws Exception {
    String name = "storm-" + status + (header == null ? "-bare" : "-hinted");
    String policy = SidecarFixture.policyFile(POLICY.formatted(name)).toString();
    List<Sidecar> fleet = new ArrayList<>();
    for (int i = 0; i < SIDECARS; i++) {
      fleet.add(fixture.sidecar(Map.of(), "--policy-file", policy, "--redis", fixture.redisUrl(),
          "--upstream", "anthropic=" + stub.url()));
    }
    RedisKeys keys = new RedisKeys(fleet.get(0).policy().id());
    // every sidecar listens for cooldown announcements before the storm
    await().atMost(Duration.ofSeconds(3)).until(() -> fixture.redis("PUBSUB", "NUMSUB", keys.cooldownChannel())
        .endsWith(" " + SIDECARS + "]"));
    Map<String, String> headers = header == null ? Map.of("content-type", "application/json")
        : Map.of("content-type", "application/json", header, value);
    stub.answerAlways(status, headers, providerBody);

    Seen seen = storm(fleet, status, providerBody);
    long providerCalls = stub.requestCount();
    // the clients send no key of their own and the sidecars hold none: one credential, the cooldown scope "anthropic~none"
    int episodes = Integer.parseInt(fixture.redis("GET", keys.cooldownStrikes(
        new dev.ratekeeper.sidecar.upstream.CooldownScope("anthropic", dev.ratekeeper.sidecar.upstream.CooldownScope.NONE,
            null).key())));
    System.out.println("FAULT-FIGURES storm " + label + ": " + seen.attempts + " client calls in " + STORM_MS
        + " ms from " + CLIENTS + " clients over " + SIDECARS + " sidecars; provider saw " + providerCalls
        + " calls over " + episodes + " cooldown episodes; " + seen.cooldowns + " answered by Ratekeeper");

    assertThat(seen.wrong).as("only the provider's own answers and Ratekeeper's cooldown 429s").isEmpty();
    assertThat(seen.relayed.get()).as("each provider call's answer reached its client").isEqualTo(providerCalls);
    // episode 1 and the one after it (the breaker is closed in between) may each meet every client's call in
    // flight; from episode 3 on the breaker is half-open and only its probe calls
    assertThat(episodes).isBetween(1, 3);
    assertThat(providerCalls).isBetween(1L, (long) CLIENTS * Math.min(episodes, 2) + Math.max(0, episodes - 2));
    // every other call was answered by Ratekeeper (the checks above): however many calls the clients manage,
    // which depends on the machine's load, the provider sees no more than the bound above, and most were absorbed
    assertThat(seen.cooldowns.get()).isGreaterThan(providerCalls);
    for (Sidecar sidecar : fleet) {
      assertThat(fixture.metric(sidecar, "ratekeeper_requests_total", "decision", "error")).isZero();
      assertThat(fixture.get(sidecar.adminPort(), "/healthz").statusCode()).isEqualTo(200);
    }

    // the provider answers normally again: after the cooldown in force (the clock jumps past the longest
    // there can be, in the sidecars and in Redis alike), every sidecar calls it; the wait is for the probe's
    // success to reach the fleet
    stub.reset();
    clock.advanceMs(CooldownLength.CAP_MS);
    await().atMost(Duration.ofSeconds(8)).until(() -> fleet.stream().allMatch(s -> fixture.post(s, "/v1/messages",
        BODY, "X-Ratekeeper-User", "after").statusCode() == 200));
    for (Sidecar sidecar : fleet) {
      assertThat(fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", "after").statusCode()).isEqualTo(200);
    }
    fleet.forEach(Sidecar::close);
  }

  /** One answer as a storm client saw it. */
  private record Answer(int status, io.vertx.core.MultiMap headers, String body) {}

  /**
   * {@link #CLIENTS} clients, spread over the fleet, calling for {@link #STORM_MS}, through Vert.x's
   * HTTP client (HTTP/1.1 keep-alive, a connection per client). With the JDK client, about one storm in
   * a few under load failed a call with "header parser received no bytes": its connection pool closed a
   * connection on which bytes arrived while it counted it idle. Whether those bytes were the call's
   * own answer racing the pool (answers here come microseconds apart) or stray bytes from the sidecar
   * is not settled; this test is about the provider's calls, so it uses a client without that pool.
   */
  private static Seen storm(List<Sidecar> fleet, int status, String providerBody) throws Exception {
    Seen seen = new Seen();
    io.vertx.core.Vertx vertx = io.vertx.core.Vertx.vertx();
    io.vertx.core.http.HttpClient http = vertx.createHttpClient(
        new io.vertx.core.http.HttpClientOptions().setKeepAlive(true),
        new io.vertx.core.http.PoolOptions().setHttp1MaxSize(CLIENTS));
    ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
    long end = System.nanoTime() + STORM_MS * 1_000_000;
    List<Future<?>> clients = new ArrayList<>();
    for (int c = 0; c < CLIENTS; c++) {
      Sidecar sidecar = fleet.get(c % fleet.size());
      String user = "client-" + c;
      clients.add(pool.submit(() -> {
        while (System.nanoTime() < end) {
          seen.attempts.incrementAndGet();
          Answer resp = http.request(io.vertx.core.http.HttpMethod.POST, sidecar.proxyPort(), "127.0.0.1", "/v1/messages")
              .compose(req -> req.putHeader("content-type", "application/json").putHeader("X-Ratekeeper-User", user)
                  .send(BODY).compose(r -> r.body().map(b -> new Answer(r.statusCode(), r.headers(), b.toString()))))
              .toCompletionStage().toCompletableFuture().get(20, TimeUnit.SECONDS);
          String limitedBy = resp.headers().get("x-ratekeeper-limited-by");
          if (limitedBy == null) {
            if (resp.status() == status && resp.body().equals(providerBody)) {
              seen.relayed.incrementAndGet();
            } else {
              seen.wrong(resp.status() + " " + resp.body());
            }
          } else if (resp.status() == 429 && limitedBy.equals("upstream.cooldown")
              && Long.parseLong(java.util.Objects.requireNonNullElse(resp.headers().get("retry-after"), "0")) >= 1
              && resp.headers().get("retry-after-ms") != null
              && resp.body().contains("\"rate_limit_error\"")) {
            seen.cooldowns.incrementAndGet();
          } else {
            seen.wrong(resp.status() + " " + limitedBy + " " + resp.headers() + " " + resp.body());
          }
        }
        return null;
      }));
    }
    try {
      for (Future<?> client : clients) {
        client.get();
      }
    } finally {
      pool.shutdown();
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
    return seen;
  }
}
