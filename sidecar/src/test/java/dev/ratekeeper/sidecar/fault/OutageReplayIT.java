package dev.ratekeeper.sidecar.fault;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.it.SidecarFixture;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.resilience.ResilientLimiterStore;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The usage a sidecar journals while Redis is away reaches Redis once it is back, however long the
 * journal grew, outage after outage, and also for calls that were admitted during the outage but
 * finish after Redis returned. A reservation Redis made too late to be used (its answer came after
 * the sidecar had given up on it) is settled too, so it does not hold its user's only slot.
 */
class OutageReplayIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: %s, namespace: fault}
      spec:
        tiers:
        - name: everyone
          requests: {perMinute: 60000000}
        onStoreUnavailable: LocalFallback
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;
  /** One call at a time per user, and an hourly token quota to read the charges from. */
  static final String ONE_AT_A_TIME = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: %s, namespace: fault}
      spec:
        tiers:
        - name: everyone
          requests: {perMinute: 60000000}
          tokens: {perHour: 100000000}
          concurrency: 1
        onStoreUnavailable: %s
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;
  static final String BODY = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":50,\"messages\":[]}";
  /** The stub reports 25 input and 15 output tokens a call. */
  static final long TOKENS = 40;

  static SidecarFixture fixture;
  static StubLlmUpstream stub;

  @BeforeAll
  static void start() {
    fixture = new SidecarFixture();
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

  private static Sidecar sidecar(String name) {
    return fixture.sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.formatted(name)).toString(),
        "--redis", fixture.redisUrl(), "--upstream", "anthropic=" + stub.url());
  }

  private static Sidecar oneAtATime(String name, String mode) {
    return fixture.sidecar(Map.of(), "--policy-file",
        SidecarFixture.policyFile(ONE_AT_A_TIME.formatted(name, mode)).toString(),
        "--redis", fixture.redisUrl(), "--upstream", "anthropic=" + stub.url());
  }

  private static long tokensInRedis(String name, String user) {
    return fixture.redisLong("HGET", fixture.redisKey("rk:{fault/" + name + "}:top:*:tokens"), user);
  }

  private static ResilientLimiterStore store(Sidecar sidecar) {
    return (ResilientLimiterStore) sidecar.store();
  }

  /** Stops Redis and waits until {@code sidecar} noticed (a call failed). */
  private static void outage(Sidecar sidecar) {
    fixture.stopRedis();
    await().atMost(Duration.ofSeconds(3)).until(() -> {
      fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", "probe");
      return !sidecar.storeUp();
    });
  }

  private static void recover(Sidecar sidecar) {
    fixture.restartRedis();
    await().atMost(Duration.ofSeconds(2)).until(sidecar::storeUp);
  }

  @Test
  void aLongJournalIsReplayedAndSoIsTheNextOutages() throws Exception {
    String name = "long-journal";
    Sidecar sidecar = sidecar(name);
    CompiledPolicy policy = sidecar.policy();
    outage(sidecar);
    // a long outage under load: 10 000 calls admitted in memory and settled, straight through the store
    int calls = 10_000;
    for (int i = 0; i < calls; i++) {
      AdmitRequest ask = AdmitRequest.metered(policy, "long-" + i, "busy", policy.tier("everyone").orElseThrow(), null,
          100, 0);
      Decision decision = SidecarFixture.await(sidecar.store().admit(ask));
      assertThat(decision.allowed()).isTrue();
      SidecarFixture.await(sidecar.store().reconcile(new ReconcileRequest(ask, TOKENS, 0)));
    }
    assertThat(store(sidecar).journaled()).isGreaterThanOrEqualTo(calls);
    long back = System.nanoTime();
    recover(sidecar);
    await().atMost(Duration.ofSeconds(15)).until(() -> store(sidecar).journaled() == 0);
    System.out.println("FAULT-FIGURES replay: " + calls + " journaled calls added to Redis "
        + (System.nanoTime() - back) / 1_000_000 + " ms after it was started again");
    assertThat(tokensInRedis(name, "busy")).isEqualTo(calls * TOKENS);

    // a second outage: its journal is replayed too
    outage(sidecar);
    for (int i = 0; i < 5; i++) {
      assertThat(fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", "second").statusCode()).isEqualTo(200);
    }
    recover(sidecar);
    await().atMost(Duration.ofSeconds(3)).untilAsserted(() -> {
      assertThat(store(sidecar).journaled()).isZero();
      assertThat(tokensInRedis(name, "second")).isEqualTo(5 * TOKENS);
    });
  }

  @Test
  void aCallAdmittedDuringTheOutageThatEndsAfterRedisIsBackIsCharged() {
    String name = "straggler";
    Sidecar sidecar = sidecar(name);
    assertThat(fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", "warm-up").statusCode()).isEqualTo(200);
    stub.responseDelayMs = 1_500;
    fixture.stopRedis();
    // admitted in memory (its own admission finds Redis gone), then slow at the provider
    CompletableFuture<HttpResponse<String>> slow = CompletableFuture.supplyAsync(() -> fixture.post(sidecar,
        "/v1/messages", BODY, "X-Ratekeeper-User", "straggler"));
    await().atMost(Duration.ofSeconds(2)).until(() -> stub.requestCount() == 2);
    assertThat(sidecar.storeUp()).isFalse();
    recover(sidecar);
    assertThat(slow.join().statusCode()).isEqualTo(200);
    await().atMost(Duration.ofSeconds(3)).untilAsserted(() -> {
      assertThat(store(sidecar).journaled()).isZero();
      assertThat(tokensInRedis(name, "straggler")).isEqualTo(TOKENS);
    });
  }

  /**
   * Redis stalls (CLIENT PAUSE, as a long fsync or a busy server would): the sidecar gives up on the
   * admission after its call timeout and admits the call in memory (LocalFallback), and Redis then
   * runs the admission it had queued, reserving for the call and taking the user's one slot. Once
   * Redis answers again that reservation is settled with the call's usage: the slot is free, the
   * usage is charged once.
   */
  @Test
  void aReservationRedisMadeTooLateIsSettledWithTheUsage() {
    String name = "late-local";
    Sidecar sidecar = oneAtATime(name, "LocalFallback");
    assertThat(fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", "warm-up").statusCode()).isEqualTo(200);
    fixture.redis("CLIENT", "PAUSE", "800");
    assertThat(fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", "late").statusCode()).isEqualTo(200);
    assertThat(sidecar.storeUp()).isFalse();
    await().atMost(Duration.ofSeconds(3)).untilAsserted(() -> {
      assertThat(sidecar.storeUp()).isTrue();
      assertThat(store(sidecar).journaled()).isZero();
      assertThat(fixture.redis("EXISTS", "rk:{fault/" + name + "}:u:late:conc")).as("the slot is free").isEqualTo("0");
    });
    assertThat(fixture.redis("GET", "rk:{fault/" + name + "}:u:late:tph")).as("charged once").endsWith(":" + TOKENS);
    assertThat(tokensInRedis(name, "late")).isEqualTo(TOKENS);
    assertThat(fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", "late").statusCode()).isEqualTo(200);
  }

  /** The same stall under FailClosed: the call is answered 503, and what Redis reserved for it later is released. */
  @Test
  void aReservationRedisMadeForACallAnswered503IsReleased() {
    String name = "late-closed";
    Sidecar sidecar = oneAtATime(name, "FailClosed");
    assertThat(fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", "warm-up").statusCode()).isEqualTo(200);
    fixture.redis("CLIENT", "PAUSE", "800");
    assertThat(fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", "late").statusCode()).isEqualTo(503);
    await().atMost(Duration.ofSeconds(3)).untilAsserted(() -> {
      assertThat(sidecar.storeUp()).isTrue();
      assertThat(store(sidecar).journaled()).isZero();
      assertThat(fixture.redis("EXISTS", "rk:{fault/" + name + "}:u:late:conc")).as("the slot is free").isEqualTo("0");
    });
    assertThat(fixture.redis("GET", "rk:{fault/" + name + "}:u:late:tph")).as("nothing charged").endsWith(":0");
    assertThat(fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", "late").statusCode()).isEqualTo(200);
  }
}
