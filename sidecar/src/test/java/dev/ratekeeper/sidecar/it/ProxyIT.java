package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The sidecar end to end on real sockets: a real Redis, the stub provider speaking both wire
 * formats (JSON and SSE), and an HTTP client standing in for the SDKs.
 */
class ProxyIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: agents, namespace: proxy-it}
      spec:
        identity: {trustTierHeader: true}
        defaultTier: free
        tiers:
        - name: free
          requests: {perMinute: 1, burst: 3}
          tokens: {perHour: 100000, maxPerRequest: 1000}
          concurrency: 1
          budget: {usd: "1.00", period: Monthly}
          models: ["claude-*", "gpt-4o*"]
        - name: pro
          requests: {perMinute: 1, burst: 1000}
          tokens: {perHour: 1000000}
        models:
        - name: claude-sonnet-4-6
          pricing: {inputPerMillion: "3.00", outputPerMillion: "15.00", cachedInputPerMillion: "0.30", cacheWritePerMillion: "3.75"}
        - name: gpt-4o
          pricing: {inputPerMillion: "2.50", outputPerMillion: "10.00", cachedInputPerMillion: "1.25"}
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
        - {name: openai, url: "https://api.openai.com", format: openai}
      """;

  static SidecarFixture fixture;
  static StubLlmUpstream stub;
  static Sidecar sidecar;
  static final AtomicInteger users = new AtomicInteger();

  @BeforeAll
  static void start() {
    fixture = new SidecarFixture();
    fixture.startRedis();
    stub = StubLlmUpstream.start();
    sidecar = fixture.sidecar(Map.of("RATEKEEPER_UPSTREAM_KEY_ANTHROPIC", "sk-ant-real"),
        "--policy-file", SidecarFixture.policyFile(POLICY).toString(), "--redis", fixture.redisUrl(),
        "--upstream", "anthropic=" + stub.url(), "--upstream", "openai=" + stub.url(), "--max-body", "512KiB");
  }

  @AfterAll
  static void stop() {
    fixture.close();
    stub.close();
  }

  @BeforeEach
  void resetStub() {
    stub.reset();
    stub.inputTokens = 25;
    stub.outputTokens = 15;
    stub.cacheReadTokens = 0;
    stub.cacheWriteTokens = 0;
  }

  /** A user nobody else in this class uses, so per-user counters start empty. */
  static String freshUser() {
    return "user-" + users.incrementAndGet();
  }

  static String anthropicBody(String model, int maxTokens, boolean stream) {
    return "{\"model\":\"" + model + "\",\"max_tokens\":" + maxTokens + ",\"stream\":" + stream
        + ",\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}]}";
  }

  static String chatBody(String model, boolean stream, String extra) {
    return "{\"model\":\"" + model + "\",\"stream\":" + stream + extra
        + ",\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}]}";
  }

  @Test
  void everyRouteReachesItsUpstreamPath() {
    String user = freshUser();
    String[][] routes = {
        {"/anthropic/v1/messages", anthropicBody("claude-sonnet-4-6", 50, false), "/v1/messages"},
        {"/v1/messages", anthropicBody("claude-sonnet-4-6", 50, false), "/v1/messages"},
        {"/openai/v1/chat/completions", chatBody("gpt-4o", false, ""), "/v1/chat/completions"},
        {"/v1/chat/completions", chatBody("gpt-4o", false, ""), "/v1/chat/completions"},
        {"/openai/v1/responses", "{\"model\":\"gpt-4o\",\"input\":\"hi\"}", "/v1/responses"},
        {"/openai/v1/completions", "{\"model\":\"gpt-4o\",\"prompt\":\"hi\",\"max_tokens\":20}", "/v1/completions"},
        {"/openai/v1/embeddings", "{\"model\":\"gpt-4o\",\"input\":\"hi\"}", "/v1/embeddings"}};
    for (String[] route : routes) {
      long before = stub.requestCount(route[2]);
      HttpResponse<String> resp = fixture.post(sidecar, route[0], route[1], "X-Ratekeeper-User", user,
          "X-Ratekeeper-Tier", "pro");
      assertThat(resp.statusCode()).as(route[0] + ": " + resp.body()).isEqualTo(200);
      assertThat(stub.requestCount(route[2])).as(route[0]).isEqualTo(before + 1);
      assertThat(resp.headers().firstValue("x-ratekeeper-remaining-requests")).as(route[0]).isPresent();
    }
  }

  @Test
  void providerHeadersAreKeptAndRatekeeperHeadersAdded() {
    HttpResponse<String> resp = fixture.post(sidecar, "/anthropic/v1/messages",
        anthropicBody("claude-sonnet-4-6", 50, false), "X-Ratekeeper-User", freshUser());
    assertThat(resp.statusCode()).isEqualTo(200);
    assertThat(resp.headers().firstValue("request-id").orElseThrow()).matches("req_stub_\\d+");
    assertThat(resp.headers().firstValue("anthropic-ratelimit-requests-remaining")).contains("999");
    assertThat(resp.headers().firstValue("x-ratekeeper-remaining-requests")).contains("2");
    assertThat(resp.headers().firstValue("x-ratekeeper-budget-remaining-usd")).isPresent();
  }

  @Test
  void upstreamKeyReplacesTheClientsAndRatekeeperHeadersAreStripped() {
    fixture.post(sidecar, "/anthropic/v1/messages", anthropicBody("claude-sonnet-4-6", 50, false),
        "X-Ratekeeper-User", freshUser(), "x-api-key", "sk-client-own", "X-Ratekeeper-Debug", "1",
        "anthropic-version", "2023-06-01");
    StubLlmUpstream.Recorded seen = stub.lastRequest();
    assertThat(seen.headers().get("x-api-key")).isEqualTo("sk-ant-real");
    assertThat(seen.headers().get("anthropic-version")).isEqualTo("2023-06-01");
    assertThat(seen.headers().names()).noneMatch(n -> n.toLowerCase().startsWith("x-ratekeeper-"));

    // no key configured for openai: the client's own credentials pass through
    fixture.post(sidecar, "/openai/v1/chat/completions", chatBody("gpt-4o", false, ""),
        "X-Ratekeeper-User", freshUser(), "Authorization", "Bearer sk-client-openai");
    assertThat(stub.lastRequest().headers().get("authorization")).isEqualTo("Bearer sk-client-openai");
  }

  @Test
  void badInputGetsA4xxInTheProviderShapeAndNeverReachesTheUpstream() throws Exception {
    String user = freshUser();
    String huge = "{\"model\":\"claude-sonnet-4-6\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\""
        + "x".repeat(600_000) + "\"}]}";
    Object[][] cases = {
        {"/anthropic/v1/messages", "{not json", 400, "invalid_request_error"},
        {"/anthropic/v1/messages", "{\"max_tokens\":10}", 400, "invalid_request_error"},
        {"/anthropic/v1/messages", huge, 413, "request_too_large"},
        {"/anthropic/v1/messages", anthropicBody("claude-opus-4-6-not-allowed", 10, false).replace("claude-opus", "opus"),
            403, "permission_error"},
        {"/anthropic/v1/messages", anthropicBody("claude-haiku-4-5", 10, false), 400, "invalid_request_error"},
        {"/anthropic/v1/messages", anthropicBody("claude-sonnet-4-6", 5000, false), 400, "invalid_request_error"},
        {"/openai/v1/chat/completions", "[1]", 400, "invalid_request_error"}};
    for (Object[] c : cases) {
      HttpResponse<String> resp = fixture.post(sidecar, (String) c[0], (String) c[1], "X-Ratekeeper-User", user);
      assertThat(resp.statusCode()).as(resp.body()).isEqualTo(c[2]);
      JsonNode body = JSON.readTree(resp.body());
      String type = ((String) c[0]).startsWith("/anthropic") ? body.path("error").path("type").asText()
          : body.path("error").path("type").asText();
      assertThat(type).as(resp.body()).isEqualTo(c[3]);
      if (((String) c[0]).startsWith("/anthropic")) {
        assertThat(body.path("type").asText()).isEqualTo("error");
      }
    }
    assertThat(stub.requestCount()).isZero();
    // the unpriced model under a budget is named
    HttpResponse<String> unpriced = fixture.post(sidecar, "/anthropic/v1/messages",
        anthropicBody("claude-haiku-4-5", 10, false), "X-Ratekeeper-User", user);
    assertThat(unpriced.body()).contains("claude-haiku-4-5").contains("no pricing");
  }

  @Test
  void anthropicUsageWithCacheTokensIsReconciledAndCharged() throws Exception {
    stub.cacheReadTokens = 400;
    stub.cacheWriteTokens = 100;
    String user = freshUser();
    HttpResponse<String> first = fixture.post(sidecar, "/anthropic/v1/messages",
        anthropicBody("claude-sonnet-4-6", 100, false), "X-Ratekeeper-User", user);
    assertThat(first.statusCode()).isEqualTo(200);
    long remainingAfterFirst = Long.parseLong(first.headers().firstValue("x-ratekeeper-remaining-tokens").orElseThrow());
    // 25 input + 15 output + 400 cache read + 100 cache write = 540 tokens replace the reservation
    awaitTokensCharged(user, 540);
    HttpResponse<String> second = fixture.post(sidecar, "/anthropic/v1/messages",
        anthropicBody("claude-sonnet-4-6", 100, false), "X-Ratekeeper-User", user);
    long remainingAfterSecond = Long.parseLong(second.headers().firstValue("x-ratekeeper-remaining-tokens").orElseThrow());
    assertThat(remainingAfterSecond).isEqualTo(remainingAfterFirst - 540);
    // cost: 25*3 + 15*15 + 400*0.30 + 100*3.75 = 75 + 225 + 120 + 375 = 795 micro-dollars per request
    await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(
        fixture.metric(sidecar, "ratekeeper_spend_usd_total", "model", "claude-sonnet-4-6")).isGreaterThanOrEqualTo(0.000795));
  }

  @Test
  void openAiStreamGetsUsageInjectedHiddenAndReconciled() throws Exception {
    stub.cacheReadTokens = 10;
    String user = freshUser();
    HttpResponse<String> resp = fixture.post(sidecar, "/openai/v1/chat/completions",
        chatBody("gpt-4o", true, ",\"max_completion_tokens\":100"), "X-Ratekeeper-User", user);
    assertThat(resp.statusCode()).isEqualTo(200);
    assertThat(resp.body()).contains("\"content\":\"word \"").endsWith("data: [DONE]\n\n")
        // the usage-only chunk the sidecar asked for is withheld; per-chunk "usage":null stays, as OpenAI sends it
        .doesNotContain("\"usage\":{").doesNotContain("\"choices\":[]");
    JsonNode sent = JSON.readTree(stub.lastRequest().body());
    assertThat(sent.path("stream_options").path("include_usage").asBoolean()).isTrue();
    // stub reports prompt 25 + 10 cached, completion 15: 50 tokens in all
    awaitTokensCharged(user, 50);

    HttpResponse<String> asked = fixture.post(sidecar, "/openai/v1/chat/completions",
        chatBody("gpt-4o", true, ",\"stream_options\":{\"include_usage\":true}"), "X-Ratekeeper-User", freshUser());
    assertThat(asked.body()).contains("\"usage\":{\"prompt_tokens\":35");
  }

  @Test
  void anthropicStreamReachesTheClientBeforeTheUpstreamFinishes() throws Exception {
    stub.eventDelayMs = 150;
    String user = freshUser();
    HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sidecar.proxyPort()
            + "/anthropic/v1/messages")).header("X-Ratekeeper-User", user)
        .POST(HttpRequest.BodyPublishers.ofString(anthropicBody("claude-sonnet-4-6", 100, true))).build();
    HttpResponse<InputStream> resp = fixture.http.send(request, HttpResponse.BodyHandlers.ofInputStream());
    assertThat(resp.statusCode()).isEqualTo(200);
    try (BufferedReader reader = new BufferedReader(new InputStreamReader(resp.body(), StandardCharsets.UTF_8))) {
      assertThat(reader.readLine()).isEqualTo("event: message_start");
      // the first event is here while the stub still has 8 events (1.2 s) to send
      assertThat(stub.streamsCompleted()).isZero();
      StringBuilder rest = new StringBuilder();
      String line;
      while ((line = reader.readLine()) != null) {
        rest.append(line).append('\n');
      }
      assertThat(rest).contains("message_stop");
    }
    awaitTokensCharged(user, 40);
  }

  @Test
  void clientDisconnectMidStreamCancelsUpstreamChargesWhatWasSentAndReleasesTheSlot() throws Exception {
    stub.eventDelayMs = 200;
    stub.streamDeltas = 20;
    String user = freshUser(); // free tier: concurrency 1
    HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sidecar.proxyPort()
            + "/anthropic/v1/messages")).header("X-Ratekeeper-User", user)
        .POST(HttpRequest.BodyPublishers.ofString(anthropicBody("claude-sonnet-4-6", 500, true))).build();
    HttpResponse<InputStream> resp = fixture.http.send(request, HttpResponse.BodyHandlers.ofInputStream());
    BufferedReader reader = new BufferedReader(new InputStreamReader(resp.body(), StandardCharsets.UTF_8));
    String line;
    while ((line = reader.readLine()) != null && !line.contains("content_block_delta")) {
      // read up to the first text delta
    }
    // while it streams, the user's one slot is taken
    HttpResponse<String> meanwhile = fixture.post(sidecar, "/anthropic/v1/messages",
        anthropicBody("claude-sonnet-4-6", 10, false), "X-Ratekeeper-User", user);
    assertThat(meanwhile.statusCode()).isEqualTo(429);
    assertThat(meanwhile.headers().firstValue("x-ratekeeper-limited-by")).contains("tier.concurrency");
    resp.body().close();

    await().atMost(Duration.ofSeconds(5)).until(() -> stub.streamsCancelled() == 1);
    // charged: the provider's input figures from message_start (25) plus the text forwarded so far
    await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(
        fixture.metric(sidecar, "ratekeeper_tokens_total", "direction", "input", "tier", "free", "model",
            "claude-sonnet-4-6")).isGreaterThanOrEqualTo(25));
    await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(fixture.post(sidecar,
        "/anthropic/v1/messages", anthropicBody("claude-sonnet-4-6", 10, false), "X-Ratekeeper-User", user)
        .statusCode()).isEqualTo(200));
  }

  @Test
  void deniedRequestsGet429sTheSdksUnderstand() throws Exception {
    String user = freshUser(); // free: burst 3, then one a minute
    for (int i = 0; i < 3; i++) {
      assertThat(fixture.post(sidecar, "/anthropic/v1/messages", anthropicBody("claude-sonnet-4-6", 10, false),
          "X-Ratekeeper-User", user).statusCode()).isEqualTo(200);
    }
    long before = stub.requestCount();
    HttpResponse<String> denied = fixture.post(sidecar, "/anthropic/v1/messages",
        anthropicBody("claude-sonnet-4-6", 10, false), "X-Ratekeeper-User", user);
    assertThat(denied.statusCode()).isEqualTo(429);
    JsonNode body = JSON.readTree(denied.body());
    assertThat(body.path("type").asText()).isEqualTo("error");
    assertThat(body.path("error").path("type").asText()).isEqualTo("rate_limit_error");
    assertThat(denied.headers().firstValue("x-ratekeeper-limited-by")).contains("tier.requests.perMinute");
    long retryMs = Long.parseLong(denied.headers().firstValue("retry-after-ms").orElseThrow());
    long retrySeconds = Long.parseLong(denied.headers().firstValue("retry-after").orElseThrow());
    assertThat(retryMs).isBetween(1L, 60_000L);
    assertThat(retrySeconds).isEqualTo((retryMs + 999) / 1000);
    assertThat(denied.headers().firstValue("x-should-retry")).isEmpty();
    assertThat(stub.requestCount()).isEqualTo(before);

    HttpResponse<String> openai = fixture.post(sidecar, "/openai/v1/chat/completions",
        chatBody("gpt-4o", false, ""), "X-Ratekeeper-User", user);
    assertThat(openai.statusCode()).isEqualTo(429);
    JsonNode error = JSON.readTree(openai.body()).path("error");
    assertThat(error.path("code").asText()).isEqualTo("rate_limit_exceeded");
    assertThat(error.path("message").asText()).contains("tier.requests.perMinute");
  }

  @Test
  void aRequestThatCouldNeverPassIsA400() throws Exception {
    // 330k characters estimate to 110k input tokens: more than the free tier's whole hourly quota of 100k
    String body = "{\"model\":\"claude-sonnet-4-6\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\""
        + "y".repeat(330_000) + "\"}]}";
    HttpResponse<String> resp = fixture.post(sidecar, "/anthropic/v1/messages", body, "X-Ratekeeper-User", freshUser());
    assertThat(resp.statusCode()).as(resp.body()).isEqualTo(400);
    assertThat(resp.headers().firstValue("x-ratekeeper-limited-by")).contains("tier.tokens.perHour");
    assertThat(JSON.readTree(resp.body()).path("error").path("message").asText()).contains("can never pass");
    assertThat(stub.requestCount()).isZero();
  }

  @Test
  void unmeteredPathsCountRequestsOnly() {
    String user = freshUser();
    HttpResponse<String> models = fixture.get(sidecar.proxyPort(), "/openai/v1/models", "X-Ratekeeper-User", user);
    assertThat(models.statusCode()).isEqualTo(200);
    assertThat(models.body()).contains("stub-model");
    assertThat(models.headers().firstValue("x-ratekeeper-remaining-requests")).contains("2");
    HttpResponse<String> unknown = fixture.get(sidecar.proxyPort(), "/nowhere/v1/models");
    assertThat(unknown.statusCode()).isEqualTo(404);
  }

  /** Waits until reconcile has charged {@code tokens} to {@code user} in Redis (the usage statistics it writes). */
  private static void awaitTokensCharged(String user, long tokens) {
    await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(
        fixture.redisLong("HGET", fixture.redisKey("rk:{proxy-it/agents}:top:*:tokens"), user)).isEqualTo(tokens));
  }
}
