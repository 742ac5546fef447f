package dev.ratekeeper.operator.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

class AdminServerTest {
  private final HttpClient http = HttpClient.newHttpClient();

  private HttpResponse<String> get(AdminServer server, String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void servesMetricsHealthAndReadiness() throws Exception {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    OperatorMetrics metrics = new OperatorMetrics(registry);
    metrics.reconciled(OperatorMetrics.ACCEPTED, 2_000_000);
    metrics.redisError();
    AtomicBoolean ready = new AtomicBoolean(false);

    try (AdminServer server = new AdminServer(new InetSocketAddress("127.0.0.1", 0), registry,
        () -> new AdminServer.Readiness(ready.get(), ready.get() ? "ready" : "Redis unreachable"))) {
      server.start();

      HttpResponse<String> scrape = get(server, "/metrics");
      assertThat(scrape.statusCode()).isEqualTo(200);
      assertThat(scrape.body())
          .contains("ratekeeper_operator_reconciles_total{outcome=\"accepted\"} 1.0")
          .contains("ratekeeper_operator_reconciles_total{outcome=\"failed\"} 0.0")
          .contains("ratekeeper_operator_reconcile_seconds_count 1")
          .contains("ratekeeper_operator_redis_errors_total 1.0")
          .contains("ratekeeper_operator_reconcile_errors_total 0.0");

      assertThat(get(server, "/healthz").statusCode()).isEqualTo(200);
      HttpResponse<String> notReady = get(server, "/readyz");
      assertThat(notReady.statusCode()).isEqualTo(503);
      assertThat(notReady.body()).contains("Redis unreachable");
      ready.set(true);
      assertThat(get(server, "/readyz").statusCode()).isEqualTo(200);
      assertThat(get(server, "/metricsx").statusCode()).isEqualTo(404);
    }
  }
}
