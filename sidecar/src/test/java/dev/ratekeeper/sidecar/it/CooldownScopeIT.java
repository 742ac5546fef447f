package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A provider's throttle cools down what it applies to, not everyone: the credential it was observed
 * on (a client's own key, or the sidecar-held key every sidecar shares), and the model when the
 * provider says the limit is the model's; the pre-emptive pause likewise. Two sidecars of one policy
 * on real Redis, so the scopes are shared across the fleet.
 */
class CooldownScopeIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: %s, namespace: scope-it}
      spec:
        tiers:
        - name: everyone
          requests: {perMinute: 100000}
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
        - {name: openai, url: "https://api.openai.com", format: openai}
      """;
  static final String HAIKU = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,\"messages\":[]}";
  static final String ANTHROPIC_429 = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
      + "\"message\":\"Number of requests has exceeded your rate limit\"}}";

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
  void reset() {
    stub.reset();
    stub.answerHeaders.clear();
  }

  private static List<Sidecar> fleet(String name, Map<String, String> env) {
    String policy = SidecarFixture.policyFile(POLICY.formatted(name)).toString();
    return List.of(
        fixture.sidecar(env, "--policy-file", policy, "--redis", fixture.redisUrl(), "--upstream",
            "anthropic=" + stub.url(), "--upstream", "openai=" + stub.url()),
        fixture.sidecar(env, "--policy-file", policy, "--redis", fixture.redisUrl(), "--upstream",
            "anthropic=" + stub.url(), "--upstream", "openai=" + stub.url()));
  }

  private static String limitedBy(HttpResponse<String> resp) {
    return resp.headers().firstValue("x-ratekeeper-limited-by").orElse("");
  }

  @Test
  void oneClientsExhaustedKeyCoolsDownThatKeyOnly() {
    List<Sidecar> fleet = fleet("client-keys", Map.of());
    // client A's key is exhausted: even an unmetered GET is answered 429, retry-after 30
    stub.enqueue(429, Map.of("retry-after", "30", "content-type", "application/json"), ANTHROPIC_429);
    HttpResponse<String> exhausted = fixture.get(fleet.get(0).proxyPort(), "/anthropic/v1/models", "x-api-key",
        "sk-client-a");
    assertThat(exhausted.statusCode()).isEqualTo(429);
    assertThat(exhausted.body()).contains("exceeded your rate limit");
    long calls = stub.requestCount();
    // A is cooled down on every sidecar, without calling the provider
    await().atMost(Duration.ofSeconds(2)).untilAsserted(() -> {
      for (Sidecar sidecar : fleet) {
        HttpResponse<String> again = fixture.post(sidecar, "/anthropic/v1/messages", HAIKU, "x-api-key", "sk-client-a");
        assertThat(again.statusCode()).isEqualTo(429);
        assertThat(limitedBy(again)).isEqualTo("upstream.cooldown");
      }
    });
    assertThat(stub.requestCount()).isEqualTo(calls);
    // client B, with its own key, and a client without one, go on through both sidecars
    for (Sidecar sidecar : fleet) {
      assertThat(fixture.post(sidecar, "/anthropic/v1/messages", HAIKU, "x-api-key", "sk-client-b").statusCode())
          .isEqualTo(200);
      assertThat(fixture.post(sidecar, "/anthropic/v1/messages", HAIKU).statusCode()).isEqualTo(200);
    }
  }

  @Test
  void aThrottleOnTheSidecarHeldKeyCoolsDownEveryoneUsingIt() {
    List<Sidecar> fleet = fleet("held-key", Map.of("RATEKEEPER_UPSTREAM_KEY_ANTHROPIC", "sk-held"));
    stub.enqueue(429, Map.of("retry-after", "30", "content-type", "application/json"), ANTHROPIC_429);
    assertThat(fixture.post(fleet.get(0), "/anthropic/v1/messages", HAIKU, "x-api-key", "sk-client-a").statusCode())
        .isEqualTo(429);
    // the key the provider throttled is the sidecar's: whatever the client sends, it is cooled down
    await().atMost(Duration.ofSeconds(2)).untilAsserted(() -> assertThat(limitedBy(fixture.post(fleet.get(1),
        "/anthropic/v1/messages", HAIKU, "x-api-key", "sk-client-b"))).isEqualTo("upstream.cooldown"));
  }

  @Test
  void aPerModelLimitCoolsDownThatModelOnly() {
    List<Sidecar> fleet = fleet("per-model", Map.of());
    stub.enqueue(429, Map.of("retry-after", "30", "content-type", "application/json"),
        "{\"error\":{\"message\":\"Rate limit reached for gpt-4o-mini in organization org-x on requests per min"
            + " (RPM): Limit 3, Used 3, Requested 1.\",\"type\":\"requests\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}");
    String mini = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    String big = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    String key = "Bearer sk-client-c";
    assertThat(fixture.post(fleet.get(0), "/openai/v1/chat/completions", mini, "authorization", key).statusCode())
        .isEqualTo(429);
    await().atMost(Duration.ofSeconds(2)).untilAsserted(() -> assertThat(limitedBy(fixture.post(fleet.get(1),
        "/openai/v1/chat/completions", mini, "authorization", key))).isEqualTo("upstream.cooldown"));
    // the same key's other models, and its unmetered calls, are not held back
    assertThat(fixture.post(fleet.get(1), "/openai/v1/chat/completions", big, "authorization", key).statusCode())
        .isEqualTo(200);
    assertThat(fixture.get(fleet.get(0).proxyPort(), "/openai/v1/models", "authorization", key).statusCode())
        .isEqualTo(200);
  }

  @Test
  void thePreemptivePauseOfAnOpenAiModelsNearlySpentQuotaHoldsThatModelOnly() {
    List<Sidecar> fleet = fleet("preemptive-model", Map.of());
    String mini = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    String big = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    String key = "Bearer sk-client-d";
    stub.answerHeaders.put("x-ratelimit-limit-requests", "1000");
    stub.answerHeaders.put("x-ratelimit-remaining-requests", "5");
    stub.answerHeaders.put("x-ratelimit-reset-requests", "20s");
    assertThat(fixture.post(fleet.get(0), "/openai/v1/chat/completions", mini, "authorization", key).statusCode())
        .isEqualTo(200);
    stub.answerHeaders.clear();
    await().atMost(Duration.ofSeconds(2)).untilAsserted(() -> assertThat(limitedBy(fixture.post(fleet.get(1),
        "/openai/v1/chat/completions", mini, "authorization", key))).isEqualTo("upstream.cooldown"));
    assertThat(fixture.post(fleet.get(1), "/openai/v1/chat/completions", big, "authorization", key).statusCode())
        .isEqualTo(200);
    assertThat(fixture.post(fleet.get(0), "/openai/v1/chat/completions", mini, "authorization", "Bearer sk-other")
        .statusCode()).isEqualTo(200);
  }
}
