package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.FreePort;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Who a request is for (users list, tier header, end-user keys), unmetered modes, upstream failures, the admin port. */
class IdentityAndEdgesIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: ids, namespace: ids-it}
      spec:
        identity: {userHeader: X-End-User}
        defaultTier: free
        tiers:
        - name: free
          requests: {perMinute: 1, burst: 1}
        - name: gold
          requests: {perMinute: 1, burst: 100}
        users:
        - {id: alice, tier: gold}
        unmeteredPaths: %s
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
        - {name: openai, url: "https://api.openai.com", format: openai}
      """;
  static final String BODY = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,\"messages\":[]}";

  static SidecarFixture fixture;
  static StubLlmUpstream stub;
  static Sidecar sidecar;
  static Sidecar denying;
  static Sidecar passing;
  static Sidecar deadUpstream;

  @BeforeAll
  static void start() throws Exception {
    fixture = new SidecarFixture();
    fixture.startRedis();
    stub = StubLlmUpstream.start();
    Path keys = Files.createTempFile("keys", ".txt");
    Files.writeString(keys, "# user: key\nalice: ak-alice-1\nbob: ak-bob-1\n");
    sidecar = fixture.sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.formatted("RequestsOnly"))
        .toString(), "--redis", fixture.redisUrl(), "--upstream", "anthropic=" + stub.url(), "--upstream",
        "openai=" + stub.url(), "--api-keys-file", keys.toString(), "--upstream-timeout", "300ms");
    denying = fixture.sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.formatted("Deny")
        .replace("name: ids,", "name: ids-deny,")).toString(), "--upstream", "openai=" + stub.url());
    passing = fixture.sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.formatted("PassThrough")
        .replace("name: ids,", "name: ids-pass,")).toString(), "--upstream", "openai=" + stub.url());
    deadUpstream = fixture.sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.formatted("Deny")
        .replace("name: ids,", "name: ids-dead,")).toString(), "--upstream",
        "anthropic=http://127.0.0.1:" + FreePort.find());
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

  @Test
  void usersListPutsAUserInATierAndTheTierHeaderIsIgnoredUnlessTrusted() {
    // alice is gold (burst 100): many requests pass
    for (int i = 0; i < 5; i++) {
      assertThat(fixture.post(sidecar, "/v1/messages", BODY, "X-End-User", "alice").statusCode()).isEqualTo(200);
    }
    // carol is free (burst 1) and cannot promote herself: trustTierHeader is false
    assertThat(fixture.post(sidecar, "/v1/messages", BODY, "X-End-User", "carol", "X-Ratekeeper-Tier", "gold")
        .statusCode()).isEqualTo(200);
    assertThat(fixture.post(sidecar, "/v1/messages", BODY, "X-End-User", "carol", "X-Ratekeeper-Tier", "gold")
        .statusCode()).isEqualTo(429);
    // the custom user header is not forwarded
    assertThat(stub.lastRequest().headers().get("X-End-User")).isNull();
  }

  @Test
  void anEndUsersKeyNamesTheUserAndIsNeverForwarded() throws Exception {
    HttpResponse<String> byKey = fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-Api-Key", "ak-alice-1",
        "X-End-User", "mallory");
    assertThat(byKey.statusCode()).isEqualTo(200);
    assertThat(stub.lastRequest().headers().names()).noneMatch(n -> n.equalsIgnoreCase("X-Ratekeeper-Api-Key"));
    assertThat(stub.lastRequest().headers().entries().toString()).doesNotContain("ak-alice-1");

    HttpResponse<String> unknown = fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-Api-Key", "ak-nobody");
    assertThat(unknown.statusCode()).isEqualTo(401);
    assertThat(JSON.readTree(unknown.body()).path("error").path("type").asText()).isEqualTo("authentication_error");
    assertThat(unknown.body()).doesNotContain("ak-nobody");
    assertThat(stub.requestCount()).isEqualTo(1);
  }

  @Test
  void unmeteredPathsFollowThePolicy() {
    assertThat(fixture.get(sidecar.proxyPort(), "/openai/v1/models", "X-End-User", "alice").statusCode()).isEqualTo(200);
    HttpResponse<String> denied = fixture.get(denying.proxyPort(), "/openai/v1/models");
    assertThat(denied.statusCode()).isEqualTo(403);
    assertThat(denied.body()).contains("unmeteredPaths: Deny");
    for (int i = 0; i < 3; i++) {
      HttpResponse<String> passed = fixture.get(passing.proxyPort(), "/openai/v1/models", "X-End-User", "dave");
      assertThat(passed.statusCode()).isEqualTo(200);
      assertThat(passed.headers().firstValue("x-ratekeeper-remaining-requests")).isEmpty();
    }
    assertThat(stub.requestCount("/v1/models")).isEqualTo(4);
  }

  @Test
  void aSlowUpstreamIsA504AndADeadOneA502InTheProviderShape() throws Exception {
    stub.responseDelayMs = 2_000;
    HttpResponse<String> slow = fixture.post(sidecar, "/v1/messages", BODY, "X-End-User", "alice");
    assertThat(slow.statusCode()).isEqualTo(504);
    assertThat(JSON.readTree(slow.body()).path("type").asText()).isEqualTo("error");

    HttpResponse<String> dead = fixture.post(deadUpstream, "/v1/messages", BODY, "X-End-User", "alice");
    assertThat(dead.statusCode()).isEqualTo(502);
    assertThat(JSON.readTree(dead.body()).path("error").path("type").asText()).isEqualTo("api_error");
  }

  /** A client that asks to upgrade to HTTP/2 (h2c; the JDK client does by default) is answered in HTTP/1.1, on both ports. */
  @Test
  void bothPortsAnswerAnH2cUpgradeInHttp11() throws Exception {
    java.net.http.HttpClient h2c = java.net.http.HttpClient.newHttpClient(); // prefers HTTP/2: sends Upgrade: h2c
    HttpResponse<String> ready = h2c.send(java.net.http.HttpRequest.newBuilder(
        java.net.URI.create("http://127.0.0.1:" + sidecar.adminPort() + "/readyz")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(ready.statusCode()).isEqualTo(200);
    assertThat(ready.version()).isEqualTo(java.net.http.HttpClient.Version.HTTP_1_1);
    HttpResponse<String> call = h2c.send(java.net.http.HttpRequest.newBuilder(
        java.net.URI.create("http://127.0.0.1:" + sidecar.proxyPort() + "/v1/messages"))
        .header("content-type", "application/json").header("X-End-User", "alice")
        .POST(java.net.http.HttpRequest.BodyPublishers.ofString(BODY)).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(call.statusCode()).isEqualTo(200);
    assertThat(call.version()).isEqualTo(java.net.http.HttpClient.Version.HTTP_1_1);
  }

  @Test
  void adminPortServesHealthReadinessAndTheDesignMetrics() {
    fixture.post(sidecar, "/v1/messages", BODY, "X-End-User", "alice");
    assertThat(fixture.get(sidecar.adminPort(), "/healthz").statusCode()).isEqualTo(200);
    assertThat(fixture.get(sidecar.adminPort(), "/readyz").statusCode()).isEqualTo(200);
    String metrics = fixture.get(sidecar.adminPort(), "/metrics").body();
    for (String name : new String[] {"ratekeeper_requests_total{", "ratekeeper_tokens_total{",
        "ratekeeper_decision_seconds_bucket", "ratekeeper_upstream_seconds_bucket",
        "ratekeeper_inflight ", "ratekeeper_store_up ", "ratekeeper_policy_revision_info{revision=\""}) {
      assertThat(metrics).as(name).contains(name);
    }
    assertThat(metrics).contains("decision=\"allowed\"").contains("tier=\"gold\"");
  }

  /**
   * A call whose client leaves while its admission is in Redis is given back when the decision
   * arrives: nothing was sent, so the user is not charged (the free tier's one request a minute stays
   * free for the next call). Redis holds the admission's script with {@code CLIENT PAUSE ... WRITE},
   * for less than the {@value dev.ratekeeper.sidecar.store.RedisLink#STALL_MS} ms that would make the
   * sidecar count Redis as unavailable.
   */
  @Test
  void anAdmissionDecidedAfterItsClientLeftIsGivenBack() throws Exception {
    long calls = stub.requestCount();
    dev.ratekeeper.policy.keys.RedisKeys keys = new dev.ratekeeper.policy.keys.RedisKeys(sidecar.policy().id());
    String stats = keys.stats(java.time.YearMonth.now(java.time.ZoneOffset.UTC).toString());
    long refunded = fixture.redisLong("HGET", stats, "refunded");
    fixture.redis("CLIENT", "PAUSE", "350", "WRITE");
    try (java.net.Socket socket = new java.net.Socket("127.0.0.1", sidecar.proxyPort())) {
      byte[] body = BODY.getBytes(java.nio.charset.StandardCharsets.UTF_8);
      java.io.OutputStream out = socket.getOutputStream();
      out.write(("POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
          + "x-end-user: leaver\r\ncontent-length: " + body.length + "\r\n\r\n")
          .getBytes(java.nio.charset.StandardCharsets.UTF_8));
      out.write(body);
      out.flush();
      Thread.sleep(120); // the call reaches its admission, which Redis holds until the pause ends
    } // its client leaves
    // once the pause ends the admission is decided (allowed, charged), finds the client gone and gives it back
    org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(3))
        .until(() -> fixture.redisLong("HGET", stats, "refunded") == refunded + 1);
    assertThat(fixture.post(sidecar, "/v1/messages", BODY, "X-End-User", "leaver").statusCode())
        .as("the user's one request a minute was given back").isEqualTo(200);
    assertThat(stub.requestCount()).as("only the last call reached the provider").isEqualTo(calls + 1);
  }
}
