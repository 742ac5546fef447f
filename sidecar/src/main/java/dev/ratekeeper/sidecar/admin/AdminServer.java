package dev.ratekeeper.sidecar.admin;

import dev.ratekeeper.sidecar.metrics.SidecarMetrics;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import java.util.function.BooleanSupplier;

/**
 * The admin port: {@code /metrics} (Prometheus text), {@code /healthz} (the process serves) and
 * {@code /readyz} (a policy is loaded and the store answered at least once; it stays ready while
 * the store is down in FailOpen and LocalFallback, so the pod keeps serving).
 */
public final class AdminServer {
  private final Vertx vertx;
  private final SidecarMetrics metrics;
  private final BooleanSupplier ready;

  public AdminServer(Vertx vertx, SidecarMetrics metrics, BooleanSupplier ready) {
    this.vertx = vertx;
    this.metrics = metrics;
    this.ready = ready;
  }

  public Future<HttpServer> listen(String host, int port) {
    // HTTP/1.1 only, as the proxy port: the kubelet and Prometheus speak it, and an h2c upgrade
    // would load the HTTP/2 stack (classes the image's archive does not hold) for nothing
    return vertx.createHttpServer(new io.vertx.core.http.HttpServerOptions().setHttp2ClearTextEnabled(false))
        .requestHandler(this::handle).listen(port, host);
  }

  private void handle(HttpServerRequest req) {
    switch (req.path()) {
      case "/metrics" -> req.response().putHeader("content-type", "text/plain; version=0.0.4; charset=utf-8")
          .end(metrics.scrape());
      case "/healthz" -> req.response().end("ok\n");
      case "/readyz" -> {
        boolean ok = ready.getAsBoolean();
        req.response().setStatusCode(ok ? 200 : 503).end(ok ? "ready\n" : "not ready\n");
      }
      default -> req.response().setStatusCode(404).end("not found\n");
    }
  }
}
