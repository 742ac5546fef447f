package dev.ratekeeper.sidecar.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.it.SidecarFixture;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.limiter.ReconcileResult;
import dev.ratekeeper.testkit.StubLlmUpstream;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Whatever a stage throws — an exception, an Error — the client gets a 5xx in the provider's shape
 * at once, never a request left hanging: here the limit store itself throws (a fault injected at the
 * store interface; the proxy and its sockets are real).
 */
class ProxyGuardIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  static Vertx vertx;
  static StubLlmUpstream stub;
  static ProxyServer proxy;
  static int port;

  @BeforeAll
  static void start() throws Exception {
    vertx = Vertx.vertx();
    stub = StubLlmUpstream.start();
    CompiledPolicy policy = AdmissionPlanTest.compile("""
        apiVersion: ratekeeper.dev/v1alpha1
        kind: RateLimitPolicy
        metadata: {name: guard, namespace: t}
        spec:
          tiers:
          - name: free
        """);
    LimiterStore throwing = new LimiterStore() {
      @Override
      public Future<Decision> admit(AdmitRequest request) {
        if (request.metered()) {
          throw new StackOverflowError("injected");
        }
        throw new IllegalStateException("injected");
      }

      @Override
      public Future<ReconcileResult> reconcile(ReconcileRequest request) {
        throw new IllegalStateException("injected");
      }

      @Override
      public Future<Void> refund(AdmitRequest admitted) {
        throw new IllegalStateException("injected");
      }
    };
    Forwarder forwarder = Proxies.forwarder(vertx, stub.url(), (scope, headers) -> Future.succeededFuture());
    proxy = Proxies.of(vertx, policy, throwing, forwarder, "guard");
    port = SidecarFixture.await(proxy.listen("127.0.0.1", 0)).actualPort();
  }

  @AfterAll
  static void stop() {
    SidecarFixture.await(proxy.close());
    stub.close();
    vertx.close();
  }

  @Test
  void aStageThatThrowsIsAnswered500InTheProviderShape() throws Exception {
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    HttpResponse<String> metered = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
            + "/anthropic/v1/messages")).timeout(Duration.ofSeconds(5)).POST(HttpRequest.BodyPublishers.ofString(
            "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,\"messages\":[]}")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(metered.statusCode()).isEqualTo(500);
    JsonNode error = JSON.readTree(metered.body());
    assertThat(error.path("type").asText()).isEqualTo("error");
    assertThat(error.path("error").path("type").asText()).isEqualTo("api_error");

    HttpResponse<String> unmetered = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
        + "/openai/v1/models")).timeout(Duration.ofSeconds(5)).GET().build(), HttpResponse.BodyHandlers.ofString());
    assertThat(unmetered.statusCode()).isEqualTo(500);
    assertThat(JSON.readTree(unmetered.body()).path("error").path("code").asText()).isEqualTo("internal_error");
    assertThat(stub.requestCount()).isZero();
  }
}
