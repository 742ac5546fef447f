package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.sidecar.fault.BypassCorpus;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * An Anthropic message batch is admitted as the sum of its requests on request rates too: a batch of
 * 3 takes 3 of a tier's burst of 4, so a second one is refused while a single call still fits.
 */
class BatchRequestsIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: batches, namespace: batches-it}
      spec:
        tiers:
        - name: std
          requests: {perMinute: 1, burst: 4}
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;
  static final String CALL = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":10,"
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
  void aBatchCountsEveryRequestItCarries() {
    String batch = BypassCorpus.batch(3, "claude-haiku-4-5", 10);
    HttpResponse<String> first = fixture.post(sidecar, "/anthropic/v1/messages/batches", batch,
        "X-Ratekeeper-User", "bea");
    assertThat(first.statusCode()).as(first.body()).isEqualTo(200);
    HttpResponse<String> second = fixture.post(sidecar, "/anthropic/v1/messages/batches", batch,
        "X-Ratekeeper-User", "bea");
    assertThat(second.statusCode()).isEqualTo(429);
    assertThat(second.headers().firstValue("x-ratekeeper-limited-by")).hasValue("tier.requests.perMinute");
    assertThat(fixture.post(sidecar, "/anthropic/v1/messages", CALL, "X-Ratekeeper-User", "bea").statusCode())
        .as("the fourth request of the burst").isEqualTo(200);
    HttpResponse<String> tooBig = fixture.post(sidecar, "/anthropic/v1/messages/batches",
        BypassCorpus.batch(5, "claude-haiku-4-5", 10), "X-Ratekeeper-User", "other");
    assertThat(tooBig.statusCode()).as("more requests than the whole burst").isEqualTo(400);
  }
}
