package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.policy.keys.RedisKeys;
import dev.ratekeeper.sidecar.identity.ApiKeys;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * End users' own keys as a limit that holds: a required key cannot be left out, guessing keys is
 * rate limited, and a key that cannot be checked because Redis is away follows the policy's
 * {@code onStoreUnavailable} instead of being called unknown.
 */
class EndUserKeysIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: %s, namespace: keys-it}
      spec:
        identity:
          apiKeySecretRef: {name: agent-keys}
          requireApiKey: %s
        tiers:
        - name: free
          requests: {perMinute: 100000}
        onStoreUnavailable: %s
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
        - {name: openai, url: "https://api.openai.com", format: openai}
      """;
  static final String BODY = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,\"messages\":[]}";

  static SidecarFixture fixture;
  static StubLlmUpstream stub;
  static Sidecar required;

  @BeforeAll
  static void start() throws Exception {
    fixture = new SidecarFixture();
    fixture.startRedis();
    stub = StubLlmUpstream.start();
    Path keys = Files.createTempFile("keys", ".txt");
    Files.writeString(keys, "alice: ak-alice-1\n");
    required = fixture.sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.formatted("required", "true",
        "LocalFallback")).toString(), "--upstream", "anthropic=" + stub.url(), "--upstream", "openai=" + stub.url(),
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
  void aRequiredKeyCannotBeLeftOut() {
    HttpResponse<String> none = fixture.post(required, "/anthropic/v1/messages", BODY, "X-Ratekeeper-User", "alice");
    assertThat(none.statusCode()).isEqualTo(401);
    assertThat(none.body()).contains("identity.requireApiKey");
    assertThat(fixture.get(required.proxyPort(), "/openai/v1/models").statusCode()).isEqualTo(401);
    assertThat(fixture.post(required, "/anthropic/v1/messages", BODY, "X-Ratekeeper-Api-Key", "ak-alice-1")
        .statusCode()).isEqualTo(200);
    assertThat(stub.requestCount()).isEqualTo(1);
  }

  @Test
  void unknownKeysAreRateLimitedWhileKnownKeysStillPass() {
    assertThat(fixture.post(required, "/anthropic/v1/messages", BODY, "X-Ratekeeper-Api-Key", "ak-alice-1")
        .statusCode()).isEqualTo(200);
    int unauthorized = 0;
    int limited = 0;
    for (int i = 0; i < 40; i++) {
      HttpResponse<String> guess = fixture.post(required, "/anthropic/v1/messages", BODY, "X-Ratekeeper-Api-Key",
          "guess-" + i);
      if (guess.statusCode() == 401) {
        unauthorized++;
      } else {
        assertThat(guess.statusCode()).isEqualTo(429);
        assertThat(guess.headers().firstValue("retry-after")).isPresent();
        assertThat(guess.body()).doesNotContain("guess-" + i);
        limited++;
      }
    }
    // a burst of 20 (plus what refills meanwhile at 5 a second), then 429s
    assertThat(unauthorized).isBetween(20, 30);
    assertThat(limited).isPositive();
    assertThat(fixture.post(required, "/anthropic/v1/messages", BODY, "X-Ratekeeper-Api-Key", "ak-alice-1")
        .statusCode()).isEqualTo(200);
  }

  @Test
  void aKeyThatCannotBeCheckedDuringAnOutageFollowsOnStoreUnavailable() {
    Sidecar closed = keysFromRedis("outage-closed", "FailClosed");
    Sidecar open = keysFromRedis("outage-open", "FailOpen");
    assertThat(fixture.post(closed, "/anthropic/v1/messages", BODY, "X-Ratekeeper-Api-Key", "ak-bob-1").statusCode())
        .isEqualTo(200);
    assertThat(fixture.post(open, "/anthropic/v1/messages", BODY, "X-Ratekeeper-Api-Key", "ak-bob-1").statusCode())
        .isEqualTo(200);
    assertThat(fixture.post(open, "/anthropic/v1/messages", BODY, "X-Ratekeeper-Api-Key", "nobody").statusCode())
        .isEqualTo(401);

    fixture.stopRedis();
    try {
      HttpResponse<String> failClosed = fixture.post(closed, "/anthropic/v1/messages", BODY, "X-Ratekeeper-Api-Key",
          "ak-bob-1");
      assertThat(failClosed.statusCode()).as(failClosed.body()).isEqualTo(503);
      assertThat(failClosed.body()).contains("could not be checked").doesNotContain("ak-bob-1");
      HttpResponse<String> failOpen = fixture.post(open, "/anthropic/v1/messages", BODY, "X-Ratekeeper-Api-Key",
          "ak-bob-1");
      assertThat(failOpen.statusCode()).as(failOpen.body()).isEqualTo(200);
    } finally {
      fixture.restartRedis();
    }
  }

  /**
   * {@code /ratekeeper/v1/limits} names its caller as a call would be: too many unknown keys are a 429
   * with {@code retry-after-ms}, a key that cannot be checked under FailClosed a 503 counted as
   * {@code error} (before, both were 401s).
   */
  @Test
  void theLimitsEndpointRefusesACallerAsACallWouldBe() {
    Sidecar closed = keysFromRedis("limits-closed", "FailClosed");
    assertThat(fixture.get(closed.proxyPort(), "/ratekeeper/v1/limits", "X-Ratekeeper-Api-Key", "ak-bob-1")
        .statusCode()).isEqualTo(200);
    int unauthorized = 0;
    HttpResponse<String> limited = null;
    for (int i = 0; i < 40 && limited == null; i++) {
      HttpResponse<String> guess = fixture.get(closed.proxyPort(), "/ratekeeper/v1/limits", "X-Ratekeeper-Api-Key",
          "guess-" + i);
      if (guess.statusCode() == 401) {
        unauthorized++;
      } else {
        assertThat(guess.statusCode()).as(guess.body()).isEqualTo(429);
        limited = guess;
      }
    }
    assertThat(unauthorized).isGreaterThanOrEqualTo(20);
    assertThat(limited).as("unknown keys are limited on the limits endpoint too").isNotNull();
    assertThat(limited.headers().firstValue("retry-after-ms")).isPresent();
    assertThat(limited.body()).contains("too many unknown keys");

    fixture.stopRedis();
    try {
      double errors = fixture.metric(closed, "ratekeeper_requests_total", "upstream", "none", "decision", "error");
      HttpResponse<String> failClosed = fixture.get(closed.proxyPort(), "/ratekeeper/v1/limits",
          "X-Ratekeeper-Api-Key", "ak-bob-1");
      assertThat(failClosed.statusCode()).as(failClosed.body()).isEqualTo(503);
      assertThat(failClosed.body()).contains("could not be checked").doesNotContain("ak-bob-1");
      assertThat(fixture.metric(closed, "ratekeeper_requests_total", "upstream", "none", "decision", "error"))
          .isEqualTo(errors + 1);
    } finally {
      fixture.restartRedis();
    }
  }

  private static Sidecar keysFromRedis(String name, String mode) {
    fixture.redis("HSET", new RedisKeys(new PolicyId("keys-it", name)).apiKeys(), ApiKeys.hash("ak-bob-1"), "bob");
    return fixture.sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.formatted(name, "false", mode))
        .toString(), "--redis", fixture.redisUrl(), "--upstream", "anthropic=" + stub.url());
  }
}
