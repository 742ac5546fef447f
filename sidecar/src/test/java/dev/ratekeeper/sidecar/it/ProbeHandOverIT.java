package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.ratekeeper.policy.keys.RedisKeys;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.sidecar.time.ManualClock;
import dev.ratekeeper.sidecar.upstream.CooldownScope;
import dev.ratekeeper.sidecar.upstream.UpstreamCooldowns;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The half-open probe and its client: a probe whose client goes away while its call waits in the
 * admission queue ({@code maxQueueWait}) never reached the provider, so the probe is handed on at
 * once (without Redis and with it); one whose call is already at the provider keeps it, so a client
 * that gives up and retries does not put a second probe on a provider that may still be throttling.
 */
class ProbeHandOverIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: NAME, namespace: probe-handover}
      spec:
        tiers:
        - name: everyone
          requests: {perMinute: 2, burst: 2}
          maxQueueWait: 60s
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;
  static final String BODY = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,\"messages\":[]}";
  static final String PROVIDER_429 = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}";
  static final String SCOPE = new CooldownScope("anthropic", CooldownScope.NONE, null).key();

  static final ManualClock clock = new ManualClock();
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

  private static HttpResponse<String> call(Sidecar sidecar, String user) {
    return fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", user);
  }

  /** Two provider 429s in a row for user u (who thereby spends the tier's 2 requests), then half-open. */
  private static void halfOpen(Sidecar sidecar) {
    stub.reset();
    stub.enqueue(429, Map.of("retry-after-ms", "300"), PROVIDER_429);
    stub.enqueue(429, Map.of("retry-after-ms", "300"), PROVIDER_429);
    assertThat(call(sidecar, "u").statusCode()).isEqualTo(429);
    await().atMost(Duration.ofSeconds(1)).until(() -> sidecar.cooldowns().check(SCOPE) instanceof UpstreamCooldowns.Open);
    clock.advanceMs(300);
    assertThat(call(sidecar, "u").statusCode()).isEqualTo(429);
    await().atMost(Duration.ofSeconds(1)).until(() -> sidecar.cooldowns().check(SCOPE) instanceof UpstreamCooldowns.Open);
    clock.advanceMs(600);
    assertThat(sidecar.cooldowns().check(SCOPE)).isInstanceOf(UpstreamCooldowns.HalfOpen.class);
    assertThat(stub.requestCount()).isEqualTo(2);
  }

  /** User u's call wins the probe, is queued (u spent the tier's requests), and its client goes away. */
  private static void probeQueuedThenClientGone(Sidecar sidecar) throws Exception {
    try (Socket socket = new Socket("127.0.0.1", sidecar.proxyPort())) {
      byte[] body = BODY.getBytes(StandardCharsets.UTF_8);
      OutputStream out = socket.getOutputStream();
      out.write(("POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-ratekeeper-user: u\r\n"
          + "content-length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.UTF_8));
      out.write(body);
      out.flush();
      socket.setSoTimeout(1_000);
      // queued: no answer comes (the queue waits on the test's clock, which does not move)
      int first = socket.getInputStream().read();
      throw new AssertionError("the probe was answered instead of queued: first byte " + first);
    } catch (java.net.SocketTimeoutException queued) {
      // expected: the call waits in the queue; the socket closes here
    }
  }

  @Test
  void withoutRedisAProbeWhoseClientLeftTheAdmissionQueueIsHandedOn() throws Exception {
    Sidecar alone = fixture.sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.replace("NAME", "alone"))
        .toString(), "--upstream", "anthropic=" + stub.url());
    halfOpen(alone);
    probeQueuedThenClientGone(alone);
    assertThat(stub.requestCount()).as("the queued probe never reached the provider").isEqualTo(2);
    // another user's call probes (before, the probe stayed held until a provider answer no call could get)
    HttpResponse<String> next = call(alone, "w");
    for (int i = 0; i < 30 && next.statusCode() != 200; i++) {
      Thread.sleep(100);
      next = call(alone, "w");
    }
    assertThat(next.statusCode()).as("user w's call after the queued probe's client left: %s limited by %s",
        next.statusCode(), next.headers().firstValue("x-ratekeeper-limited-by").orElse("")).isEqualTo(200);
  }

  @Test
  void aProbeWhoseClientLeftTheAdmissionQueueIsReleasedInRedis() throws Exception {
    Sidecar member = fixture.sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.replace("NAME", "shared"))
        .toString(), "--redis", fixture.redisUrl(), "--upstream", "anthropic=" + stub.url());
    halfOpen(member);
    probeQueuedThenClientGone(member);
    RedisKeys keys = new RedisKeys(member.policy().id());
    assertThat(stub.requestCount()).as("the queued probe never reached the provider").isEqualTo(2);
    // released at once (before: kept until it expired, 30 s of real time)
    for (int i = 0; i < 30 && fixture.redis("GET", keys.cooldownProbe(SCOPE)) != null; i++) {
      Thread.sleep(100);
    }
    assertThat(fixture.redis("GET", keys.cooldownProbe(SCOPE))).as("the probe key 3 s after its client left (PTTL %s)",
        fixture.redis("PTTL", keys.cooldownProbe(SCOPE))).isNull();
  }

  /**
   * Half-open lets one request test the provider: a probe already sent to the provider whose client
   * then leaves keeps the probe (the provider may be working on it), so the next request is not a
   * second probe at the provider.
   */
  @Test
  void aProbeAlreadyAtTheProviderIsNotHandedOnWhenItsClientLeaves() throws Exception {
    Sidecar member = fixture.sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.replace("NAME", "inflight")
        .replace("requests: {perMinute: 2, burst: 2}", "requests: {perMinute: 1000}")).toString(),
        "--redis", fixture.redisUrl(), "--upstream", "anthropic=" + stub.url());
    halfOpen(member);
    stub.responseDelayMs = 5_000; // the provider takes its time over the probe
    try {
      try (Socket socket = new Socket("127.0.0.1", member.proxyPort())) {
        byte[] body = BODY.getBytes(StandardCharsets.UTF_8);
        OutputStream out = socket.getOutputStream();
        out.write(("POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-ratekeeper-user: u\r\n"
            + "content-length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        out.write(body);
        out.flush();
        await().atMost(Duration.ofSeconds(3)).until(() -> stub.requestCount() == 3); // the probe is at the provider
      } // its client leaves; the sidecar settles the call when it sees the connection close
      await().atMost(Duration.ofSeconds(2)).until(() -> member.metrics().inflight().get() == 0);
      long atProvider = stub.requestCount();
      HttpResponse<String> second = fixture.post(member, "/v1/messages", BODY, "X-Ratekeeper-User", "w");
      assertThat(stub.requestCount()).as("requests sent to the provider while the first probe is still there"
          + " (second call answered %s)", second.statusCode()).isEqualTo(atProvider);
    } finally {
      stub.responseDelayMs = 0;
    }
  }
}
