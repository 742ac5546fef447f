package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.sidecar.time.ManualClock;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Model fallback, budget clamping, queueing for capacity and shadow mode, through real sidecars and
 * Redis, on a clock moved by hand (the sidecars' and their scripts'): a queued request's turn comes
 * when the clock is moved, not after real seconds.
 */
class PolicyFeaturesIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: features, namespace: features-it}
      spec:
        mode: %s
        identity: {trustTierHeader: true}
        tiers:
        - name: std
          requests: {perMinute: 1000}
        - name: haiku-less
          requests: {perMinute: 1000}
          models: ["claude-sonnet-*"]
        - name: budgeted
          budget: {usd: "0.01", period: Daily}
        - name: patient
          requests: {perMinute: 6, burst: 1}
          maxQueueWait: 30s
        - name: hasty
          requests: {perMinute: 6, burst: 1}
          maxQueueWait: 2s
        models:
        - name: claude-sonnet-4-6
          requests: {perMinute: 1, burst: 1}
          pricing: {inputPerMillion: "3.00", outputPerMillion: "15.00"}
          fallback: claude-haiku-4-5
        - name: claude-haiku-4-5
          pricing: {inputPerMillion: "1.00", outputPerMillion: "5.00"}
        budgets: {clampMaxTokens: true}
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;

  /** The sidecars' clock and their scripts' (limit windows in Redis): it moves only when a test moves it. */
  static final ManualClock clock = new ManualClock();
  static SidecarFixture fixture;
  static StubLlmUpstream stub;
  static Sidecar enforcing;
  static Sidecar shadow;

  @BeforeAll
  static void start() {
    fixture = new SidecarFixture().clock(clock);
    fixture.startRedis();
    stub = StubLlmUpstream.start();
    enforcing = fixture.sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.formatted("Enforce"))
        .toString(), "--redis", fixture.redisUrl(), "--upstream", "anthropic=" + stub.url());
    shadow = fixture.sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.formatted("Shadow")
        .replace("name: features,", "name: features-shadow,")).toString(), "--redis", fixture.redisUrl(),
        "--upstream", "anthropic=" + stub.url());
  }

  @AfterAll
  static void stop() {
    fixture.close();
    stub.close();
  }

  @BeforeEach
  void reset() {
    stub.reset();
  }

  static String body(String model, int maxTokens) {
    return "{\"model\":\"" + model + "\",\"max_tokens\":" + maxTokens + ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  }

  static HttpResponse<String> call(Sidecar sidecar, String tier, String user, String body) {
    return fixture.post(sidecar, "/v1/messages", body, "X-Ratekeeper-User", user, "X-Ratekeeper-Tier", tier);
  }

  @Test
  void whenTheModelsOwnQuotaIsSpentTheRequestFallsBack() throws Exception {
    HttpResponse<String> first = call(enforcing, "std", "fa", body("claude-sonnet-4-6", 50));
    assertThat(first.statusCode()).isEqualTo(200);
    assertThat(first.headers().firstValue("x-ratekeeper-model-fallback")).isEmpty();

    HttpResponse<String> second = call(enforcing, "std", "fb", body("claude-sonnet-4-6", 50));
    assertThat(second.statusCode()).isEqualTo(200);
    assertThat(second.headers().firstValue("x-ratekeeper-model-fallback")).contains("claude-sonnet-4-6 -> claude-haiku-4-5");
    assertThat(JSON.readTree(stub.lastRequest().body()).path("model").asText()).isEqualTo("claude-haiku-4-5");

    // the tier's allow-list still applies: no fallback to a model the tier may not use
    HttpResponse<String> denied = call(enforcing, "haiku-less", "fc", body("claude-sonnet-4-6", 50));
    assertThat(denied.statusCode()).isEqualTo(429);
    assertThat(denied.headers().firstValue("x-ratekeeper-limited-by")).contains("model.requests.perMinute");
  }

  @Test
  void aBudgetThatCannotPayTheCapClampsItInstead() throws Exception {
    // $0.01 pays at most ~1999 output tokens of haiku (5 $/M) after the input: 3000 do not fit
    HttpResponse<String> resp = call(enforcing, "budgeted", "clamp-1", body("claude-haiku-4-5", 3000));
    assertThat(resp.statusCode()).as(resp.body()).isEqualTo(200);
    long clamped = Long.parseLong(resp.headers().firstValue("x-ratekeeper-max-tokens-clamped").orElseThrow());
    assertThat(clamped).isBetween(1_900L, 1_999L);
    assertThat(JSON.readTree(stub.lastRequest().body()).path("max_tokens").asLong()).isEqualTo(clamped);
  }

  @Test
  void aRequestWaitsForCapacityWithinMaxQueueWaitInsteadOfA429() throws Exception {
    assertThat(call(enforcing, "patient", "q1", body("claude-haiku-4-5", 5)).statusCode()).isEqualTo(200);
    double waits = fixture.metric(enforcing, "ratekeeper_queue_wait_seconds_count");
    double waited = fixture.metric(enforcing, "ratekeeper_queue_wait_seconds_sum");
    long sent = stub.requestCount();
    // a request every 10 s, burst 1: the next one's capacity comes 10 s later, within the 30 s it may wait
    CompletableFuture<HttpResponse<String>> next = CompletableFuture.supplyAsync(() ->
        call(enforcing, "patient", "q1", body("claude-haiku-4-5", 5)));
    await().atMost(Duration.ofSeconds(10)).until(() -> enforcing.queuedRequests() == 1);
    assertThat(next).as("waiting, not refused").isNotDone();
    assertThat(stub.requestCount()).isEqualTo(sent);
    clock.advanceMs(9_999);
    assertThat(enforcing.queuedRequests()).isEqualTo(1);
    clock.advanceMs(1);
    // answered as the clock reaches it, long before 10 s of real time
    HttpResponse<String> answered = next.get(5, TimeUnit.SECONDS);
    assertThat(answered.statusCode()).as(answered.body()).isEqualTo(200);
    assertThat(stub.requestCount()).isEqualTo(sent + 1);
    assertThat(enforcing.queuedRequests()).isZero();
    assertThat(fixture.metric(enforcing, "ratekeeper_queue_wait_seconds_count")).isEqualTo(waits + 1);
    assertThat(fixture.metric(enforcing, "ratekeeper_queue_wait_seconds_sum") - waited).as("waited on the clock")
        .isCloseTo(10.0, within(1e-9));

    // one request every 10 s cannot come within a 2 s wait: answered at once
    assertThat(call(enforcing, "hasty", "q2", body("claude-haiku-4-5", 5)).statusCode()).isEqualTo(200);
    HttpResponse<String> hasty = call(enforcing, "hasty", "q2", body("claude-haiku-4-5", 5));
    assertThat(hasty.statusCode()).isEqualTo(429);
  }

  @Test
  void shadowModeDecidesAndCountsButNeverBlocks() throws Exception {
    for (int i = 0; i < 3; i++) {
      HttpResponse<String> resp = call(shadow, "hasty", "s1", body("claude-haiku-4-5", 5));
      assertThat(resp.statusCode()).isEqualTo(200);
      if (i > 0) {
        assertThat(resp.headers().firstValue("x-ratekeeper-shadow-limited-by")).contains("tier.requests.perMinute");
      }
    }
    assertThat(stub.requestCount()).isEqualTo(3);
    assertThat(fixture.metric(shadow, "ratekeeper_requests_total", "decision", "shadow_limited")).isEqualTo(2);
    // bad input is still refused
    assertThat(call(shadow, "hasty", "s1", "{oops").statusCode()).isEqualTo(400);
    assertThat(stub.requestCount()).isEqualTo(3);
  }
}
