package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.ratekeeper.policy.periods.CalendarPeriod;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Spend that cannot silently go missing: a call charged on the sidecar's estimate (an answer without
 * usage, a model without pricing) is counted in the metrics and in the statistics the operator puts
 * in the policy's status; {@code budgets.refuseUnpricedModels} refuses unpriced models outright.
 */
class EstimatedSpendIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: %s, namespace: estimates-it}
      spec:
        tiers:
        - name: std
        models:
        - name: claude-haiku-4-5
          pricing: {inputPerMillion: "1.00", outputPerMillion: "5.00"}
        budgets: {refuseUnpricedModels: %s}
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;
  static final String STATS = "rk:{estimates-it/counted}:stats:" + CalendarPeriod.MONTH.id(System.currentTimeMillis());

  static SidecarFixture fixture;
  static StubLlmUpstream stub;
  static Sidecar counting;
  static Sidecar refusing;

  @BeforeAll
  static void start() {
    fixture = new SidecarFixture();
    fixture.startRedis();
    stub = StubLlmUpstream.start();
    counting = fixture.sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.formatted("counted",
        "false")).toString(), "--redis", fixture.redisUrl(), "--upstream", "anthropic=" + stub.url());
    refusing = fixture.sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.formatted("strict",
        "true")).toString(), "--redis", fixture.redisUrl(), "--upstream", "anthropic=" + stub.url());
  }

  @AfterAll
  static void stop() {
    fixture.close();
    stub.close();
  }

  static String body(String model) {
    return "{\"model\":\"" + model + "\",\"max_tokens\":20,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  }

  @Test
  void callsChargedOnAnEstimateAreCountedByReason() {
    assertThat(fixture.post(counting, "/v1/messages", body("claude-haiku-4-5")).statusCode()).isEqualTo(200);
    assertThat(fixture.metric(counting, "ratekeeper_estimated_charges_total")).as("the provider's usage").isZero();

    // an answer that carries no usage: charged on the reservation, and counted
    stub.enqueue(200, Map.of("content-type", "application/json"), "{\"id\":\"msg_1\",\"type\":\"message\","
        + "\"role\":\"assistant\",\"model\":\"claude-haiku-4-5\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}");
    assertThat(fixture.post(counting, "/v1/messages", body("claude-haiku-4-5")).statusCode()).isEqualTo(200);
    // tokens on a model without pricing: the spend is unknown, and counted
    HttpResponse<String> unpriced = fixture.post(counting, "/v1/messages", body("some-local-model"));
    assertThat(unpriced.statusCode()).isEqualTo(200);

    await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
      assertThat(fixture.metric(counting, "ratekeeper_estimated_charges_total", "reason", "no_usage")).isEqualTo(1);
      assertThat(fixture.metric(counting, "ratekeeper_estimated_charges_total", "reason", "unpriced")).isEqualTo(1);
      assertThat(fixture.redis("HGET", STATS, "estimated")).as("for the policy's status").isEqualTo("2");
    });
  }

  @Test
  void refuseUnpricedModelsRefusesThemWithoutABudget() {
    long before = stub.requestCount();
    HttpResponse<String> refused = fixture.post(refusing, "/v1/messages", body("some-local-model"));
    assertThat(refused.statusCode()).isEqualTo(400);
    assertThat(refused.body()).contains("refuseUnpricedModels");
    assertThat(stub.requestCount()).isEqualTo(before);
    assertThat(fixture.post(refusing, "/v1/messages", body("claude-haiku-4-5")).statusCode()).isEqualTo(200);
  }
}
