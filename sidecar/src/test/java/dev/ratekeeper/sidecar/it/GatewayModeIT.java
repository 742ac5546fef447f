package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.policy.keys.RedisKeys;
import dev.ratekeeper.sidecar.identity.ApiKeys;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.sidecar.time.ManualClock;
import dev.ratekeeper.testkit.StubLlmUpstream;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code --mode gateway} on real sockets and a real Redis: a request without a valid end-user key is a
 * 401 in the provider's shape on every path, whatever the policy says; the headers a client could name
 * itself or a tier by are never read; a client's credentials never reach the provider, the gateway's
 * key does.
 */
class GatewayModeIT {
  /** Keys optional, the tier header trusted, free paths passed through: the gateway overrides all three. */
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: gateway-it, namespace: gw}
      spec:
        identity:
          trustTierHeader: true
        defaultTier: free
        users:
        - {id: alice, tier: pro}
        tiers:
        - name: free
          requests: {perMinute: 1, burst: 2}
        - name: pro
          requests: {perMinute: 100000}
        unmeteredPaths: PassThrough
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
        - {name: openai, url: "https://api.openai.com", format: openai}
      """;
  /** Keys from the policy's Secret, as the operator writes them to Redis; generous limits. */
  static final String REDIS_KEYS_POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: gateway-redis-keys, namespace: gw}
      spec:
        identity:
          apiKeySecretRef: {name: end-user-keys}
        tiers:
        - name: free
          requests: {perMinute: 100000}
        onStoreUnavailable: LocalFallback
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;
  static final String MESSAGES = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,\"messages\":[]}";
  static final String CHAT = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":5,\"messages\":[]}";
  static final String HELD_KEY = "sk-held-by-the-gateway";

  static SidecarFixture fixture;
  static StubLlmUpstream stub;
  static Sidecar gateway;
  static Path keys;

  @BeforeAll
  static void start() throws Exception {
    fixture = new SidecarFixture();
    fixture.startRedis();
    stub = StubLlmUpstream.start();
    keys = Files.createTempFile("gateway-keys", ".txt");
    Files.writeString(keys, "alice: ak-alice\nbob: ak-bob\n");
    gateway = fixture.sidecar(Map.of("RATEKEEPER_UPSTREAM_KEY_ANTHROPIC", HELD_KEY), "--mode", "gateway",
        "--policy-file", SidecarFixture.policyFile(POLICY).toString(), "--redis", fixture.redisUrl(),
        "--upstream", "anthropic=" + stub.url(), "--upstream", "openai=" + stub.url(),
        "--api-keys-file", keys.toString());
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
  void noKeyIsA401InTheProvidersShapeOnEveryPathWhateverElseTheRequestSays() {
    HttpResponse<String> messages = fixture.post(gateway, "/anthropic/v1/messages", MESSAGES,
        "X-Ratekeeper-User", "alice", "x-api-key", "sk-ant-client-own");
    assertThat(messages.statusCode()).isEqualTo(401);
    JsonObject anthropic = new JsonObject(messages.body());
    assertThat(anthropic.getString("type")).isEqualTo("error");
    assertThat(anthropic.getJsonObject("error").getString("type")).isEqualTo("authentication_error");
    assertThat(anthropic.getJsonObject("error").getString("message")).contains("X-Ratekeeper-Api-Key");

    HttpResponse<String> chat = fixture.post(gateway, "/openai/v1/chat/completions", CHAT,
        "authorization", "Bearer sk-client-own");
    assertThat(chat.statusCode()).isEqualTo(401);
    assertThat(new JsonObject(chat.body()).getJsonObject("error").getString("code")).isEqualTo("invalid_api_key");

    // a free path the policy passes through unmetered, and the proxy's own limits endpoint
    assertThat(fixture.get(gateway.proxyPort(), "/anthropic/v1/models").statusCode()).isEqualTo(401);
    assertThat(fixture.get(gateway.proxyPort(), "/ratekeeper/v1/limits", "X-Ratekeeper-User", "alice")
        .statusCode()).isEqualTo(401);
    assertThat(fixture.post(gateway, "/anthropic/v1/messages", MESSAGES, "X-Ratekeeper-Api-Key", "ak-mallory")
        .statusCode()).isEqualTo(401);
    assertThat(stub.requestCount()).as("nothing reached the provider").isZero();
    assertThat(fixture.metric(gateway, "ratekeeper_requests_total", "decision", "unauthorized")).isGreaterThanOrEqualTo(5);
  }

  @Test
  void aRefusedKeysBodyIsNotTakenIn() throws Exception {
    long announced = 1L << 30;
    try (java.net.Socket socket = new java.net.Socket("127.0.0.1", gateway.proxyPort())) {
      socket.setSoTimeout(10_000);
      var out = socket.getOutputStream();
      // a body of 1 GiB announced by a client with no valid key: answered 401 before any of it is read
      out.write(("POST /anthropic/v1/messages HTTP/1.1\r\nHost: gateway\r\ncontent-type: application/json\r\n"
          + "X-Ratekeeper-Api-Key: ak-mallory\r\ncontent-length: " + announced + "\r\n\r\n")
          .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      out.flush();
      String head = readHead(socket.getInputStream());
      assertThat(head).startsWith("HTTP/1.1 401");
      assertThat(head.toLowerCase(java.util.Locale.ROOT)).contains("connection: close");
      // the client sends the body anyway: the gateway reads at most Responder.DRAIN_BYTES more, then closes
      java.util.concurrent.atomic.AtomicLong sent = new java.util.concurrent.atomic.AtomicLong();
      Thread writer = new Thread(() -> {
        byte[] chunk = new byte[64 * 1024];
        try {
          while (sent.get() < announced) {
            out.write(chunk);
            sent.addAndGet(chunk.length);
          }
        } catch (java.io.IOException closed) {
          // the gateway closed the connection: also never read
        }
      });
      writer.setDaemon(true);
      writer.start();
      writer.join(5_000);
      assertThat(sent.get()).as("bytes of a refused body the gateway took in 5 s").isLessThan(64L << 20);
      assertThat(writer.isAlive()).as("the gateway closed the connection").isFalse();
    }
    assertThat(stub.requestCount()).isZero();
  }

  /** The status line and headers of an answer, up to the blank line. */
  private static String readHead(java.io.InputStream in) throws java.io.IOException {
    StringBuilder head = new StringBuilder();
    while (!head.toString().endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        break;
      }
      head.append((char) b);
    }
    return head.toString();
  }

  @Test
  void theProviderSeesTheGatewaysKeyNeverTheClientsNorItsIdentityHeaders() {
    HttpResponse<String> ok = fixture.post(gateway, "/anthropic/v1/messages", MESSAGES, "X-Ratekeeper-Api-Key",
        "ak-alice", "x-api-key", "sk-ant-client-own", "authorization", "Bearer sk-client-own", "api-key", "sk-az",
        "X-Ratekeeper-User", "someone-else");
    assertThat(ok.statusCode()).isEqualTo(200);
    StubLlmUpstream.Recorded seen = stub.lastRequest();
    assertThat(seen.headers().getAll("x-api-key")).containsExactly(HELD_KEY);
    assertThat(seen.headers().contains("authorization")).isFalse();
    assertThat(seen.headers().contains("api-key")).isFalse();
    assertThat(seen.headers().names()).noneMatch(n -> n.toLowerCase().startsWith("x-ratekeeper-"));
    assertThat(seen.headers().toString()).doesNotContain("ak-alice").doesNotContain("sk-client-own");

    // the OpenAI upstream has no key in the gateway: the call goes out without credentials, never the client's
    assertThat(fixture.post(gateway, "/openai/v1/chat/completions", CHAT, "X-Ratekeeper-Api-Key", "ak-alice",
        "authorization", "Bearer sk-client-own").statusCode()).isEqualTo(200);
    assertThat(stub.lastRequest().headers().contains("authorization")).isFalse();
    // a passed-through free path too
    assertThat(fixture.get(gateway.proxyPort(), "/anthropic/v1/models", "X-Ratekeeper-Api-Key", "ak-bob",
        "x-api-key", "sk-ant-client-own").statusCode()).isEqualTo(200);
    assertThat(stub.lastRequest().headers().getAll("x-api-key")).containsExactly(HELD_KEY);
  }

  @Test
  void theUserIsTheKeysAndTheTierThePolicysNeverTheHeaders() {
    // bob is on free (burst 2); he claims to be alice, on pro
    String[] claims = {"X-Ratekeeper-Api-Key", "ak-bob", "X-Ratekeeper-User", "alice", "X-Ratekeeper-Tier", "pro"};
    HttpResponse<String> limits = fixture.get(gateway.proxyPort(), "/ratekeeper/v1/limits", claims);
    assertThat(limits.statusCode()).as(limits.body()).isEqualTo(200);
    JsonObject who = new JsonObject(limits.body());
    assertThat(who.getString("user")).isEqualTo("bob");
    assertThat(who.getString("tier")).isEqualTo("free");
    int admitted = 0;
    int limited = 0;
    for (int i = 0; i < 5; i++) {
      int status = fixture.post(gateway, "/anthropic/v1/messages", MESSAGES, claims).statusCode();
      if (status == 200) {
        admitted++;
      } else {
        assertThat(status).isEqualTo(429);
        limited++;
      }
    }
    assertThat(admitted).as("bob's own free-tier burst").isEqualTo(2);
    assertThat(limited).isEqualTo(3);
    // alice, by her key, is untouched by what bob sent in her name
    assertThat(fixture.post(gateway, "/anthropic/v1/messages", MESSAGES, "X-Ratekeeper-Api-Key", "ak-alice")
        .statusCode()).isEqualTo(200);
  }

  /**
   * The gateway's key check and the limits endpoint answer through the proxy's one responder: a
   * refused key counts with no label a client chose, and a look counts as {@code limits} under the
   * key's tier, not the tier the client claimed.
   */
  @Test
  void refusedKeysAndLooksAreCountedWithThePolicysLabels() {
    double refused = fixture.metric(gateway, "ratekeeper_requests_total", "upstream", "unknown", "model", "unknown",
        "tier", "unknown", "decision", "unauthorized");
    assertThat(fixture.post(gateway, "/anthropic/v1/messages", MESSAGES, "X-Ratekeeper-Api-Key", "ak-mallory",
        "X-Ratekeeper-Tier", "pro").statusCode()).isEqualTo(401);
    assertThat(fixture.metric(gateway, "ratekeeper_requests_total", "upstream", "unknown", "model", "unknown",
        "tier", "unknown", "decision", "unauthorized")).isEqualTo(refused + 1);

    double looks = fixture.metric(gateway, "ratekeeper_requests_total", "upstream", "none", "tier", "free",
        "decision", "limits");
    assertThat(fixture.get(gateway.proxyPort(), "/ratekeeper/v1/limits", "X-Ratekeeper-Api-Key", "ak-bob",
        "X-Ratekeeper-Tier", "pro").statusCode()).isEqualTo(200);
    assertThat(fixture.metric(gateway, "ratekeeper_requests_total", "upstream", "none", "tier", "free",
        "decision", "limits")).isEqualTo(looks + 1);
    assertThat(fixture.metric(gateway, "ratekeeper_requests_total", "upstream", "none", "tier", "pro",
        "decision", "limits")).as("the claimed tier is no label").isZero();
  }

  /**
   * Guessed keys from one client spend that client's unknown-key budget on the gateway's own clock
   * (the one its entry point injects): exactly the burst of 20 is looked up, then 429s; a fifth of a
   * second later on that clock, exactly one more.
   */
  @Test
  void guessedKeysFromOneClientAreLimitedOnTheGatewaysClock() {
    ManualClock clock = new ManualClock();
    try (SidecarFixture timed = new SidecarFixture().clock(clock)) {
      Sidecar guarded = timed.sidecar(Map.of(), "--mode", "gateway", "--policy-file",
          SidecarFixture.policyFile(POLICY).toString(), "--upstream", "anthropic=" + stub.url(),
          "--api-keys-file", keys.toString());
      assertThat(alice(timed, guarded)).isEqualTo(200);
      List<Integer> statuses = new ArrayList<>();
      for (int i = 0; i < 30; i++) {
        statuses.add(guess(timed, guarded, "guess-" + i));
      }
      assertThat(statuses.subList(0, 20)).as("the burst: looked up, unknown").containsOnly(401);
      assertThat(statuses.subList(20, 30)).as("then refused without a look-up").containsOnly(429);
      clock.advanceMs(100);
      assertThat(guess(timed, guarded, "guess-half")).as("half a token").isEqualTo(429);
      clock.advanceMs(100);
      assertThat(guess(timed, guarded, "guess-one")).isEqualTo(401);
      assertThat(guess(timed, guarded, "guess-two")).isEqualTo(429);
      assertThat(alice(timed, guarded)).as("a key found valid lately still passes").isEqualTo(200);
    }
  }

  private static int alice(SidecarFixture timed, Sidecar guarded) {
    return guess(timed, guarded, "ak-alice");
  }

  private static int guess(SidecarFixture timed, Sidecar guarded, String key) {
    return timed.post(guarded, "/anthropic/v1/messages", MESSAGES, "X-Ratekeeper-Api-Key", key).statusCode();
  }

  @Test
  void aGatewayWithoutEndUserKeysDoesNotStart() {
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> fixture.sidecar(Map.of(),
        "--mode", "gateway", "--policy-file", SidecarFixture.policyFile(POLICY).toString(),
        "--upstream", "anthropic=" + stub.url()));
    assertThat(e.getCause().getMessage()).contains("gateway").contains("--api-keys-file")
        .contains("apiKeySecretRef");
  }

  /**
   * Keys looked up in Redis (asynchronously, while the body waits): a 256 KiB body reaches the provider
   * whole, call after call on one connection; during an outage a key seen valid lately still passes
   * (LocalFallback), one never seen is a 503, not a guess.
   */
  @Test
  void keysCheckedInRedisLetWholeBodiesThroughAndKnownKeysRideOutAnOutage() {
    // a Redis of its own: the outage must not reach the other tests' gateway
    try (SidecarFixture fixture = new SidecarFixture()) {
      fixture.startRedis();
      keysInRedis(fixture);
    }
  }

  private static void keysInRedis(SidecarFixture fixture) {
    String apiKeys = new RedisKeys(new PolicyId("gw", "gateway-redis-keys")).apiKeys();
    fixture.redis("HSET", apiKeys, ApiKeys.hash("ak-carol"), "carol");
    fixture.redis("HSET", apiKeys, ApiKeys.hash("ak-dave"), "dave");
    Sidecar redisKeys = fixture.sidecar(Map.of("RATEKEEPER_UPSTREAM_KEY_ANTHROPIC", HELD_KEY), "--mode", "gateway",
        "--policy-file", SidecarFixture.policyFile(REDIS_KEYS_POLICY).toString(), "--redis", fixture.redisUrl(),
        "--upstream", "anthropic=" + stub.url());
    String big = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\""
        + "x".repeat(256 * 1024) + "\"}]}";
    for (int i = 0; i < 5; i++) {
      HttpResponse<String> ok = fixture.post(redisKeys, "/anthropic/v1/messages", big, "X-Ratekeeper-Api-Key", "ak-carol");
      assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
      assertThat(stub.lastRequest().body()).as("call %d reached the provider whole", i).hasSize(big.length());
    }
    fixture.stopRedis();
    try {
      HttpResponse<String> known = fixture.post(redisKeys, "/anthropic/v1/messages", MESSAGES, "X-Ratekeeper-Api-Key",
          "ak-carol");
      assertThat(known.statusCode()).as(known.body()).isEqualTo(200);
      HttpResponse<String> unseen = fixture.post(redisKeys, "/anthropic/v1/messages", MESSAGES, "X-Ratekeeper-Api-Key",
          "ak-dave");
      assertThat(unseen.statusCode()).as(unseen.body()).isEqualTo(503);
      assertThat(unseen.body()).contains("could not be checked").doesNotContain("ak-dave");
    } finally {
      fixture.restartRedis();
    }
  }
}
