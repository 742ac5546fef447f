package dev.ratekeeper.sidecar.fault;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ratekeeper.policy.keys.RedisKeys;
import dev.ratekeeper.sidecar.it.SidecarFixture;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A provider slower than {@code --upstream-timeout}: the client gets a 504 in the provider's shape,
 * the call's lease is released at once (a user allowed one call at a time can call again right
 * after), and nothing stays charged for it: the sidecar settles a timed-out call with zero usage,
 * which refunds its whole reservation.
 */
class SlowProviderIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: slow, namespace: fault}
      spec:
        tiers:
        - name: one-at-a-time
          requests: {perMinute: 6000000}
          tokens: {perMinute: 100000000, perHour: 100000000}
          concurrency: 1
          budget: {usd: "100.00", period: Monthly}
        models:
        - name: claude-sonnet-4-6
          pricing: {inputPerMillion: "3.00", outputPerMillion: "15.00"}
        - name: gpt-4o
          pricing: {inputPerMillion: "2.50", outputPerMillion: "10.00"}
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
        - {name: openai, url: "https://api.openai.com", format: openai}
      """;
  static final String ANTHROPIC = "{\"model\":\"claude-sonnet-4-6\",\"max_tokens\":100,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}";
  static final String OPENAI = "{\"model\":\"gpt-4o\",\"max_completion_tokens\":100,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}";
  static final long TIMEOUT_MS = 300;

  static SidecarFixture fixture;
  static StubLlmUpstream stub;
  static final List<Sidecar> fleet = new ArrayList<>();

  @BeforeAll
  static void start() {
    fixture = new SidecarFixture();
    fixture.startRedis();
    stub = StubLlmUpstream.start();
    String policy = SidecarFixture.policyFile(POLICY).toString();
    for (int i = 0; i < 2; i++) {
      fleet.add(fixture.sidecar(Map.of(), "--policy-file", policy, "--redis", fixture.redisUrl(),
          "--upstream", "anthropic=" + stub.url(), "--upstream", "openai=" + stub.url(),
          "--upstream-timeout", TIMEOUT_MS + "ms"));
    }
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

  @Test
  void aTimedOutCallReleasesItsSlotAtOnce() throws Exception {
    for (int round = 0; round < 5; round++) {
      stub.responseDelayMs = 1_500;
      long start = System.nanoTime();
      HttpResponse<String> slow = fixture.post(fleet.get(round % 2), "/anthropic/v1/messages", ANTHROPIC,
          "X-Ratekeeper-User", "solo");
      long tookMs = (System.nanoTime() - start) / 1_000_000;
      assertThat(slow.statusCode()).isEqualTo(504);
      assertThat(tookMs).isBetween(TIMEOUT_MS, 1_400L);
      JsonNode body = JSON.readTree(slow.body());
      assertThat(body.path("type").asText()).isEqualTo("error");
      assertThat(body.path("error").path("type").asText()).isEqualTo("api_error");
      assertThat(body.path("error").path("message").asText()).contains("timed out");

      // right after, from the other sidecar: the one slot is free again
      stub.responseDelayMs = 0;
      HttpResponse<String> next = fixture.post(fleet.get((round + 1) % 2), "/anthropic/v1/messages", ANTHROPIC,
          "X-Ratekeeper-User", "solo");
      assertThat(next.statusCode()).as(next.headers().map() + " " + next.body()).isEqualTo(200);
      // that call's slot is released when it is settled, just after its answer: the next round starts then
      String slot = new RedisKeys(fleet.get(0).policy().id()).user("solo", "conc");
      await().atMost(Duration.ofSeconds(5)).until(() -> fixture.redis("ZCARD", slot).equals("0"));
    }
  }

  @Test
  void manyTimedOutCallsAtOnceLeaveNothingCharged() throws Exception {
    stub.responseDelayMs = 1_500;
    int calls = 24;
    ExecutorService clients = Executors.newFixedThreadPool(calls);
    List<CompletableFuture<HttpResponse<String>>> answers = new ArrayList<>();
    for (int i = 0; i < calls; i++) {
      boolean anthropic = i % 2 == 0;
      Sidecar sidecar = fleet.get(i % 2 == 0 ? (i / 2) % 2 : (i / 2 + 1) % 2);
      String user = "timed-out-" + i;
      answers.add(CompletableFuture.supplyAsync(() -> fixture.post(sidecar,
          anthropic ? "/anthropic/v1/messages" : "/openai/v1/chat/completions", anthropic ? ANTHROPIC : OPENAI,
          "X-Ratekeeper-User", user), clients));
    }
    for (int i = 0; i < calls; i++) {
      HttpResponse<String> resp = answers.get(i).get();
      assertThat(resp.statusCode()).isEqualTo(504);
      JsonNode error = JSON.readTree(resp.body()).path("error");
      if (i % 2 == 0) {
        assertThat(error.path("type").asText()).isEqualTo("api_error");
      } else {
        assertThat(error.path("type").asText()).isEqualTo("server_error");
        assertThat(error.path("code").asText()).isEqualTo("timeout");
      }
    }
    clients.shutdown();
    assertThat(stub.requestCount()).as("every call was sent").isEqualTo(calls);

    // settled: every reservation record is done, every lease gone, every counter back to zero
    String prefix = "rk:{fault/slow}:";
    await().atMost(Duration.ofSeconds(3)).untilAsserted(() -> {
      List<String> records = keys(prefix + "r:*");
      assertThat(records).hasSizeGreaterThanOrEqualTo(calls);
      for (String record : records) {
        assertThat(fixture.redis("GET", record)).as(record).isEqualTo("done");
      }
    });
    assertThat(keys(prefix + "u:timed-out-*:conc")).as("no lease left").isEmpty();
    for (int i = 0; i < calls; i++) {
      String user = prefix + "u:timed-out-" + i;
      assertThat(fixture.redis("GET", user + ":tph")).as("hourly tokens of " + user).endsWith(":0");
      assertThat(fixture.redis("GET", user + ":budget")).as("budget of " + user).endsWith(":0");
    }
    assertThat(fixture.redisLong("HGET", fixture.redisKey(prefix + "stats:*"), "spendMicros"))
        .as("no spend recorded for calls that timed out").isZero();
  }

  private static List<String> keys(String pattern) {
    String reply = fixture.redis("KEYS", pattern);
    List<String> out = new ArrayList<>();
    for (String key : reply.substring(1, reply.length() - 1).split(", ")) {
      if (!key.isBlank()) {
        out.add(key);
      }
    }
    return out;
  }
}
