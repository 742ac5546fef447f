package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.sidecar.time.ManualClock;
import dev.ratekeeper.testkit.StubLlmUpstream;
import io.vertx.core.json.JsonObject;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code /ratekeeper/v1/limits} answers through the pipeline's one responder, so every answer it gives
 * is counted in {@code ratekeeper_requests_total} like a call's: upstream {@code none}, the policy's
 * label of the model asked about (never the client's name for it), the caller's tier. Its own guard
 * (50 looks a second) answers 429 with {@code retry-after} and {@code retry-after-ms} like the
 * sidecar's other 429s, on a clock moved by hand.
 */
class LimitsEndpointMetricsIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: limits-metrics, namespace: limits-it}
      spec:
        identity:
          apiKeySecretRef: {name: keys}
        tiers:
        - name: std
          requests: {perMinute: 10}
          models: ["claude-haiku-*"]
        models:
        - name: claude-haiku-4-5
          requests: {perMinute: 100}
          pricing: {inputPerMillion: "1.00", outputPerMillion: "5.00"}
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;
  static final String REQUESTS = "ratekeeper_requests_total";
  static final ManualClock clock = new ManualClock();

  static SidecarFixture fixture;
  static StubLlmUpstream stub;
  static Sidecar sidecar;

  @BeforeAll
  static void start() {
    fixture = new SidecarFixture().clock(clock);
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
  void everyAnswerOfTheLimitsEndpointIsCountedWithThePolicysLabels() {
    clock.advanceMs(1_000); // a window of looks of its own
    double looks = count("upstream", "none", "model", "none", "tier", "std", "decision", "limits");
    HttpResponse<String> look = fixture.get(sidecar.proxyPort(), "/ratekeeper/v1/limits", "X-Ratekeeper-User", "ann");
    assertThat(look.statusCode()).as(look.body()).isEqualTo(200);
    assertThat(count("upstream", "none", "model", "none", "tier", "std", "decision", "limits")).isEqualTo(looks + 1);

    double models = count("upstream", "none", "model", "claude-haiku-4-5", "tier", "std", "decision", "limits");
    assertThat(fixture.get(sidecar.proxyPort(), "/ratekeeper/v1/limits?model=claude-haiku-4-5",
        "X-Ratekeeper-User", "ann").statusCode()).isEqualTo(200);
    assertThat(count("upstream", "none", "model", "claude-haiku-4-5", "tier", "std", "decision", "limits"))
        .as("the policy's model entry").isEqualTo(models + 1);

    // a model the tier may not use: 403, labelled with the policy's "other", never the client's name
    double forbidden = count("upstream", "none", "model", "other", "tier", "std", "decision", "invalid");
    HttpResponse<String> gpt = fixture.get(sidecar.proxyPort(), "/ratekeeper/v1/limits?model=gpt-made-up-9",
        "X-Ratekeeper-User", "ann");
    assertThat(gpt.statusCode()).isEqualTo(403);
    assertThat(count("upstream", "none", "model", "other", "tier", "std", "decision", "invalid"))
        .isEqualTo(forbidden + 1);
    assertThat(fixture.get(sidecar.adminPort(), "/metrics").body()).doesNotContain("gpt-made-up-9");

    // another method: 405 in the pipeline's own shape for it, counted as refused
    double refused = count("upstream", "none", "tier", "unknown", "decision", "refused");
    HttpResponse<String> post = fixture.post(sidecar, "/ratekeeper/v1/limits", "{}", "X-Ratekeeper-User", "ann");
    assertThat(post.statusCode()).isEqualTo(405);
    assertThat(post.headers().firstValue("allow")).hasValue("GET");
    assertThat(new JsonObject(post.body()).getJsonObject("error").getString("code")).isEqualTo("method_not_allowed");
    assertThat(count("upstream", "none", "tier", "unknown", "decision", "refused")).isEqualTo(refused + 1);

    // an unknown end-user key: the identity stage's 401, counted as unauthorized
    double unauthorized = count("upstream", "none", "tier", "unknown", "decision", "unauthorized");
    HttpResponse<String> stranger = fixture.get(sidecar.proxyPort(), "/ratekeeper/v1/limits",
        "X-Ratekeeper-Api-Key", "ak-nobody");
    assertThat(stranger.statusCode()).isEqualTo(401);
    assertThat(count("upstream", "none", "tier", "unknown", "decision", "unauthorized")).isEqualTo(unauthorized + 1);
  }

  @Test
  void pastFiftyLooksASecondTheNextIsA429WithRetryAfterUntilTheSecondEnds() {
    clock.advanceMs(1_000); // a window of looks of its own
    double refused = count("upstream", "none", "decision", "refused");
    for (int i = 0; i < 50; i++) {
      assertThat(fixture.get(sidecar.proxyPort(), "/ratekeeper/v1/limits", "X-Ratekeeper-User", "ann").statusCode())
          .as("look %d", i).isEqualTo(200);
    }
    clock.advanceMs(400);
    HttpResponse<String> over = fixture.get(sidecar.proxyPort(), "/ratekeeper/v1/limits", "X-Ratekeeper-User", "ann");
    assertThat(over.statusCode()).isEqualTo(429);
    assertThat(over.headers().firstValue("retry-after")).hasValue("1");
    assertThat(over.headers().firstValue("retry-after-ms")).hasValue("600");
    assertThat(new JsonObject(over.body()).getJsonObject("error").getString("message")).contains("50 looks a second");
    assertThat(count("upstream", "none", "decision", "refused")).isEqualTo(refused + 1);

    clock.advanceMs(600);
    assertThat(fixture.get(sidecar.proxyPort(), "/ratekeeper/v1/limits", "X-Ratekeeper-User", "ann").statusCode())
        .as("the next second's looks").isEqualTo(200);
  }

  @Test
  void aQueryThatCannotBeDecodedIsTheClientsError() throws Exception {
    clock.advanceMs(1_000); // a window of looks of its own
    double invalid = count("upstream", "none", "decision", "invalid");
    double errors = count("upstream", "none", "decision", "error") + count("upstream", "unknown", "decision", "error");
    String status;
    try (java.net.Socket socket = new java.net.Socket("127.0.0.1", sidecar.proxyPort())) {
      socket.setSoTimeout(20_000);
      socket.getOutputStream().write(("GET /ratekeeper/v1/limits?model=%zz HTTP/1.1\r\nHost: sidecar\r\n"
          + "X-Ratekeeper-User: ann\r\nConnection: close\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      socket.getOutputStream().flush();
      String answer = new String(socket.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
      status = answer.substring(0, answer.indexOf("\r\n"));
      assertThat(status).as(answer).isEqualTo("HTTP/1.1 400 Bad Request");
      assertThat(answer).contains("invalid_request_error");
    }
    assertThat(count("upstream", "none", "decision", "invalid")).isEqualTo(invalid + 1);
    assertThat(count("upstream", "none", "decision", "error") + count("upstream", "unknown", "decision", "error"))
        .isEqualTo(errors);
  }

  private static double count(String... labels) {
    return fixture.metric(sidecar, REQUESTS, labels);
  }
}
