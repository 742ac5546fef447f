package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Limits an agent can see: {@code GET /ratekeeper/v1/limits} answers the caller's every dimension
 * (tier, run, model, global) with limit, remaining and reset, charging nothing; allowed answers carry
 * the IETF {@code RateLimit-Policy} / {@code RateLimit} headers.
 */
class AgentLimitsIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: limits, namespace: limits-it}
      spec:
        tiers:
        - name: std
          requests: {perMinute: 10, burst: 5}
          models: ["claude-haiku-*"]
          budget: {usd: "1.00", period: Daily}
          run: {requests: 3, usd: "0.50"}
        models:
        - name: claude-haiku-4-5
          requests: {perMinute: 100}
          pricing: {inputPerMillion: "1.00", outputPerMillion: "5.00"}
        global:
          requests: {perMinute: 500}
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;
  static final String BODY = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":10,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  static SidecarFixture fixture;
  static StubLlmUpstream stub;
  static Sidecar sidecar;

  @BeforeAll
  static void start() {
    fixture = new SidecarFixture();
    fixture.startRedis();
    stub = StubLlmUpstream.start();
    sidecar = fixture.sidecarFor(POLICY, "anthropic", stub);
  }

  @AfterAll
  static void stop() {
    fixture.close();
    stub.close();
  }

  @Test
  void anAgentSeesWhatEachOfItsLimitsHasLeftAndLookingChargesNothing() throws Exception {
    HttpResponse<String> call = fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", "ann",
        "X-Ratekeeper-Run", "task-1");
    assertThat(call.statusCode()).isEqualTo(200);
    assertThat(call.headers().firstValue("ratelimit-policy")).hasValue(
        "\"tier.requests.perMinute\";q=10;w=60, \"model.requests.perMinute\";q=100;w=60, "
            + "\"global.requests.perMinute\";q=500;w=60");
    assertThat(call.headers().firstValue("ratelimit").orElseThrow())
        .startsWith("\"tier.requests.perMinute\";r=4;t=");
    long stubCalls = stub.requestCount();

    String stats = "rk:{limits-it/limits}:stats:" + dev.ratekeeper.policy.periods.CalendarPeriod.MONTH.id(
        System.currentTimeMillis());
    Thread.sleep(200); // the call's reconcile follows its answer
    String statsBefore = fixture.redis("HGETALL", stats);
    assertThat(statsBefore).as("the call's statistics").contains("requests");
    String keysBefore = fixture.redis("KEYS", "rk:{limits-it/limits}:*");
    Map<String, JsonNode> first = limits("?model=claude-haiku-4-5");
    Map<String, JsonNode> again = limits("?model=claude-haiku-4-5");
    assertThat(fixture.redis("HGETALL", stats)).as("no statistics written").isEqualTo(statsBefore);
    assertThat(fixture.redis("KEYS", "rk:{limits-it/limits}:*")).as("no record, lease or counter written")
        .isEqualTo(keysBefore);
    assertThat(remaining(again)).as("looking charged nothing").isEqualTo(remaining(first));
    assertThat(stub.requestCount()).as("never forwarded").isEqualTo(stubCalls);
    assertThat(first.get("tier.requests.perMinute").path("remaining").asLong()).isEqualTo(4);
    assertThat(first.get("run.requests").path("remaining").asLong()).isEqualTo(2);
    assertThat(first.get("run.requests").path("limit").asLong()).isEqualTo(3);
    assertThat(first.get("run.budget").path("unit").asText()).isEqualTo("usd");
    assertThat(first.get("run.budget").path("limit").asText()).isEqualTo("0.50");
    assertThat(first.get("budget").path("remaining").asText()).startsWith("0.99");
    assertThat(first).containsKeys("model.requests.perMinute", "global.requests.perMinute");
    assertThat(first.values()).noneMatch(limit -> limit.path("blocking").asBoolean());
  }

  @Test
  void aCallsPriorityMarkIsCheckedAndNeverForwarded() {
    long before = stub.requestCount();
    HttpResponse<String> bad = fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", "pat",
        "X-Ratekeeper-Priority", "urgent");
    assertThat(bad.statusCode()).isEqualTo(400);
    assertThat(bad.body()).contains("X-Ratekeeper-Priority");
    assertThat(stub.requestCount()).isEqualTo(before);
    HttpResponse<String> batch = fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", "pat",
        "X-Ratekeeper-Priority", "batch");
    assertThat(batch.statusCode()).isEqualTo(200);
    assertThat(stub.lastRequest().headers().get("X-Ratekeeper-Priority")).isNull();
  }

  @Test
  void aModelTheTierMayNotUseIsNotShown() {
    HttpResponse<String> resp = fixture.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
        + sidecar.proxyPort() + "/ratekeeper/v1/limits?model=gpt-4o")).header("X-Ratekeeper-User", "ann").GET()
        .build());
    assertThat(resp.statusCode()).as("std may use only claude-haiku-*").isEqualTo(403);
  }

  @Test
  void onlyGetIsAnswered() {
    HttpResponse<String> post = fixture.post(sidecar, "/ratekeeper/v1/limits", "{}");
    assertThat(post.statusCode()).isEqualTo(405);
    assertThat(post.headers().firstValue("allow")).hasValue("GET");
  }

  private static Map<String, String> remaining(Map<String, JsonNode> limits) {
    Map<String, String> out = new HashMap<>();
    limits.forEach((name, limit) -> out.put(name, limit.path("remaining").asText()));
    return out;
  }

  private static Map<String, JsonNode> limits(String query) throws Exception {
    HttpResponse<String> resp = fixture.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
            + sidecar.proxyPort() + "/ratekeeper/v1/limits" + query)).header("X-Ratekeeper-User", "ann")
        .header("X-Ratekeeper-Run", "task-1").GET().build());
    assertThat(resp.statusCode()).as(resp.body()).isEqualTo(200);
    JsonNode body = JSON.readTree(resp.body());
    assertThat(body.path("user").asText()).isEqualTo("ann");
    assertThat(body.path("tier").asText()).isEqualTo("std");
    assertThat(body.path("run").asText()).isEqualTo("task-1");
    Map<String, JsonNode> byName = new HashMap<>();
    body.path("limits").forEach(limit -> byName.put(limit.path("dimension").asText(), limit));
    return byName;
  }
}
