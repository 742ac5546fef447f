package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The N-replica problem: several sidecars, each with its own Vert.x, Redis connection pool and
 * proxy port, started from the same policy file against one Redis, hold one global limit exactly.
 */
class FleetIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: fleet, namespace: fleet-it}
      spec:
        tiers:
        - name: everyone
          requests: {perMinute: 100000}
        global:
          # one request a minute refills: none during the test, so exactly the burst passes
          requests: {perMinute: 1, burst: 40}
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;
  static final int SIDECARS = 8;
  static final int CLIENTS = 16;
  static final int REQUESTS = 200;

  static SidecarFixture fixture;
  static StubLlmUpstream stub;
  static final List<Sidecar> sidecars = new ArrayList<>();

  @BeforeAll
  static void start() {
    fixture = new SidecarFixture();
    fixture.startRedis();
    stub = StubLlmUpstream.start();
    Path policy = SidecarFixture.policyFile(POLICY);
    for (int i = 0; i < SIDECARS; i++) {
      sidecars.add(fixture.sidecar(Map.of(), "--policy-file", policy.toString(), "--redis", fixture.redisUrl(),
          "--upstream", "anthropic=" + stub.url(), "--sidecar-id", "fleet-" + i));
    }
  }

  @AfterAll
  static void stop() {
    fixture.close();
    stub.close();
  }

  @Test
  void sidecarsSharingOneRedisAdmitExactlyTheGlobalLimit() throws Exception {
    ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
    List<Future<HttpResponse<String>>> results = new ArrayList<>();
    for (int i = 0; i < REQUESTS; i++) {
      Sidecar target = sidecars.get(i % SIDECARS);
      String user = "user-" + (i % 25);
      results.add(clients.submit(() -> fixture.post(target, "/v1/messages",
          "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
          "X-Ratekeeper-User", user)));
    }
    int ok = 0;
    int limited = 0;
    for (Future<HttpResponse<String>> result : results) {
      HttpResponse<String> resp = result.get();
      if (resp.statusCode() == 200) {
        ok++;
      } else {
        assertThat(resp.statusCode()).isEqualTo(429);
        assertThat(resp.headers().firstValue("x-ratekeeper-limited-by")).contains("global.requests.perMinute");
        limited++;
      }
    }
    clients.shutdown();
    System.out.printf("FIGURE fleet sidecars=%d requests=%d limit=40 admitted=%d provider-calls=%d%n", SIDECARS, REQUESTS,
        ok, stub.requestCount());
    assertThat(ok).isEqualTo(40);
    assertThat(limited).isEqualTo(REQUESTS - 40);
    assertThat(stub.requestCount()).isEqualTo(40);
    // every sidecar took part
    for (Sidecar sidecar : sidecars) {
      assertThat(fixture.metric(sidecar, "ratekeeper_requests_total")).isGreaterThan(0);
    }
  }
}
