package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A provider 429 stops every sidecar under the policy: none calls the provider until the cooldown
 * the provider asked for has passed, then traffic resumes; a second episode in a row is longer
 * and ends with one half-open probe.
 */
class CooldownIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: cool, namespace: cooldown-it}
      spec:
        tiers:
        - name: everyone
          requests: {perMinute: 100000}
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;
  static final String BODY = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,\"messages\":[]}";
  static final String PROVIDER_429 = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}";

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

  /** Three sidecars of a policy of their own, so each test starts with no cooldown history. */
  private static List<Sidecar> fleet(String name) {
    Path policy = SidecarFixture.policyFile(POLICY.replace("name: cool,", "name: " + name + ","));
    List<Sidecar> fleet = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      fleet.add(fixture.sidecar(Map.of(), "--policy-file", policy.toString(), "--redis", fixture.redisUrl(),
          "--upstream", "anthropic=" + stub.url()));
    }
    return fleet;
  }

  private static HttpResponse<String> call(Sidecar sidecar) {
    return fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", "u");
  }

  private static String limitedBy(HttpResponse<String> resp) {
    return resp.headers().firstValue("x-ratekeeper-limited-by").orElse("");
  }

  @Test
  void aProvider429CoolsDownEverySidecarThenTrafficResumes() {
    List<Sidecar> fleet = fleet("storm");
    stub.reset();
    stub.enqueue(429, Map.of("retry-after", "2", "content-type", "application/json"), PROVIDER_429);
    HttpResponse<String> provider = call(fleet.get(0));
    long startedNanos = System.nanoTime();
    assertThat(provider.statusCode()).isEqualTo(429);
    assertThat(provider.body()).contains("slow down"); // the provider's own answer passes through
    long calls = stub.requestCount();

    // every sidecar now answers for the provider, without calling it
    await().atMost(Duration.ofSeconds(1)).untilAsserted(() -> {
      for (Sidecar sidecar : fleet) {
        HttpResponse<String> resp = call(sidecar);
        assertThat(resp.statusCode()).isEqualTo(429);
        assertThat(limitedBy(resp)).isEqualTo("upstream.cooldown");
        assertThat(Long.parseLong(resp.headers().firstValue("retry-after-ms").orElseThrow())).isBetween(1L, 2_000L);
      }
    });
    int during = 0;
    while ((System.nanoTime() - startedNanos) / 1_000_000 < 1_500) {
      assertThat(call(fleet.get(during++ % 3)).statusCode()).isEqualTo(429);
    }
    assertThat(stub.requestCount()).isEqualTo(calls);

    // after the 2 s the provider asked for, calls go through again, from every sidecar
    await().atMost(Duration.ofSeconds(4)).until(() -> call(fleet.get(1)).statusCode() == 200);
    assertThat((System.nanoTime() - startedNanos) / 1_000_000).isGreaterThanOrEqualTo(1_900);
    assertThat(call(fleet.get(0)).statusCode()).isEqualTo(200);
    assertThat(call(fleet.get(2)).statusCode()).isEqualTo(200);
  }

  @Test
  void aSecondEpisodeInARowIsLongerAndEndsWithOneProbe() {
    List<Sidecar> fleet = fleet("breaker");
    stub.reset();
    // the provider throttles the first call, and again the first call after the cooldown
    stub.enqueue(429, Map.of("retry-after-ms", "300"), PROVIDER_429);
    stub.enqueue(429, Map.of("retry-after-ms", "300"), PROVIDER_429);
    assertThat(limitedBy(call(fleet.get(0)))).isEmpty(); // the provider's own 429: episode 1, 300 ms
    // sidecars answer for the provider until episode 1 ends; the next call meets the provider's second 429
    await().atMost(Duration.ofSeconds(3)).until(() -> {
      HttpResponse<String> resp = call(fleet.get(0));
      return resp.statusCode() == 429 && limitedBy(resp).isEmpty();
    });
    assertThat(stub.requestCount()).isEqualTo(2);
    // episode 2 in a row lasts twice as long
    HttpResponse<String> cooling = call(fleet.get(1));
    assertThat(limitedBy(cooling)).isEqualTo("upstream.cooldown");
    assertThat(Long.parseLong(cooling.headers().firstValue("retry-after-ms").orElseThrow())).isBetween(301L, 600L);
    // after it the breaker is half-open: one probe goes through, succeeds and closes it for everyone
    await().atMost(Duration.ofSeconds(3)).until(() -> call(fleet.get(2)).statusCode() == 200);
    assertThat(stub.requestCount()).isEqualTo(3);
    await().atMost(Duration.ofSeconds(2)).until(() -> call(fleet.get(0)).statusCode() == 200
        && call(fleet.get(1)).statusCode() == 200);
  }

  @Test
  void whenTheProvidersQuotaIsNearlySpentTheFleetPausesBeforeIt429s() {
    List<Sidecar> fleet = fleet("preemptive");
    stub.reset();
    // the provider says: 10 of 1000 requests left until 1.5 s from now
    stub.answerHeaders.put("anthropic-ratelimit-requests-limit", "1000");
    stub.answerHeaders.put("anthropic-ratelimit-requests-remaining", "10");
    stub.answerHeaders.put("anthropic-ratelimit-requests-reset", java.time.Instant.now().plusMillis(1_500).toString());
    assertThat(call(fleet.get(0)).statusCode()).isEqualTo(200);
    stub.answerHeaders.clear();
    long calls = stub.requestCount();
    await().atMost(Duration.ofSeconds(1)).untilAsserted(() -> {
      for (Sidecar sidecar : fleet) {
        HttpResponse<String> resp = call(sidecar);
        assertThat(limitedBy(resp)).isEqualTo("upstream.cooldown");
      }
    });
    assertThat(stub.requestCount()).isEqualTo(calls);
    // after the provider's reset traffic flows again, and no strike was counted: a later throttle is episode 1
    await().atMost(Duration.ofSeconds(4)).until(() -> call(fleet.get(1)).statusCode() == 200);
    assertThat(fixture.redis("GET", "rk:{cooldown-it/preemptive}:cooldown:anthropic:strikes")).isNull();
  }
}
