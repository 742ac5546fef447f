package dev.ratekeeper.operator;

import static dev.ratekeeper.operator.testing.OperatorHarness.eventually;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.operator.testing.EmbeddedRedis;
import dev.ratekeeper.operator.testing.MockApiServer;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The program's start: one clear line and no operator when a dependency is missing; a serving admin port when not. */
class OperatorMainIT {
  private final ByteArrayOutputStream errBytes = new ByteArrayOutputStream();
  private final PrintStream err = new PrintStream(errBytes, true, StandardCharsets.UTF_8);

  private String err() {
    return errBytes.toString(StandardCharsets.UTF_8);
  }

  private static int closedPort() throws Exception {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  private static OperatorConfig config(String redisUrl) throws Exception {
    // the mock API server has no server-side apply
    return OperatorConfig.parse(new String[] {"--redis", redisUrl, "--admin-listen", "127.0.0.1:0",
        "--server-side-apply=false"}, Map.of());
  }

  /** Redis down at start: the operator starts anyway and is ready (its webhook needs no Redis). */
  @Test
  void unreachableRedisDoesNotStopTheStart() throws Exception {
    int port = closedPort();
    try (MockApiServer api = new MockApiServer()) {
      OperatorMain.Running running = OperatorMain.start(config("redis://127.0.0.1:" + port), api::client, err);
      assertThat(running).as(err()).isNotNull();
      HttpClient http = HttpClient.newHttpClient();
      try {
        eventually().untilAsserted(() -> {
          HttpResponse<String> ready = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
              + running.admin().port() + "/readyz")).build(), HttpResponse.BodyHandlers.ofString());
          assertThat(ready.statusCode()).isEqualTo(200);
          assertThat(ready.body()).contains("Redis unreachable");
        });
      } finally {
        running.operator().stop();
        running.admin().close();
        running.store().close();
      }
      assertThat(err()).isEmpty();
    }
  }

  @Test
  void unreachableApiServerIsOneLineAndNoOperator() throws Exception {
    int port = closedPort();
    try (EmbeddedRedis redis = new EmbeddedRedis()) {
      OperatorMain.Running running = OperatorMain.start(config(redis.url()), () -> new KubernetesClientBuilder()
          .withConfig(new ConfigBuilder().withMasterUrl("https://127.0.0.1:" + port).withRequestRetryBackoffLimit(0)
              .withConnectionTimeout(1000).withRequestTimeout(1000).build())
          .build(), err);

      assertThat(running).isNull();
      assertThat(err().lines()).singleElement().asString()
          .startsWith("ratekeeper-operator: cannot reach the API server at https://127.0.0.1:" + port);
    }
  }

  @Test
  void startsServesTheAdminPortAndStops() throws Exception {
    try (EmbeddedRedis redis = new EmbeddedRedis(); MockApiServer api = new MockApiServer()) {
      OperatorMain.Running running = OperatorMain.start(config(redis.url()), api::client, err);
      assertThat(running).as(err()).isNotNull();
      HttpClient http = HttpClient.newHttpClient();
      String base = "http://127.0.0.1:" + running.admin().port();
      try {
        eventually().untilAsserted(() -> assertThat(http.send(HttpRequest.newBuilder(URI.create(base + "/readyz")).build(),
            HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200));
        HttpResponse<String> metrics = http.send(HttpRequest.newBuilder(URI.create(base + "/metrics")).build(),
            HttpResponse.BodyHandlers.ofString());
        assertThat(metrics.body()).contains("ratekeeper_operator_reconciles_total").contains("jvm_memory_used_bytes");

        redis.stop();
        eventually().untilAsserted(() -> {
          HttpResponse<String> ready = http.send(HttpRequest.newBuilder(URI.create(base + "/readyz")).build(),
              HttpResponse.BodyHandlers.ofString());
          assertThat(ready.statusCode()).as("still ready: the webhook needs no Redis").isEqualTo(200);
          assertThat(ready.body()).contains("Redis unreachable");
        });
        redis.start();
      } finally {
        // the harness client is closed by MockApiServer; Running closes its own copy of the reference harmlessly
        running.operator().stop();
        running.admin().close();
        running.store().close();
      }
      assertThat(err()).isEmpty();
    }
  }
}
