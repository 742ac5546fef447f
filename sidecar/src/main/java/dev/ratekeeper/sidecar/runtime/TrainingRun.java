package dev.ratekeeper.sidecar.runtime;

import dev.ratekeeper.cli.HostPort;
import dev.ratekeeper.sidecar.config.SidecarConfig;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import java.util.concurrent.TimeUnit;

/**
 * {@code --exit-when-ready}: once the sidecar is ready, it is called the way a pod's first moments
 * call it (the kubelet's readiness probe, a Prometheus scrape, a call to the proxy), then it stops
 * and the process exits. A JVM started with {@code -XX:ArchiveClassesAtExit} writes every class
 * loaded until then into its archive (images/sidecar.Dockerfile), so those first calls are served
 * from it too. The call to the proxy is malformed JSON: refused before anything is forwarded (400;
 * 401 in gateway mode, which asks for an end user's key first), so a training run never reaches a
 * provider. The calls go to the ports the sidecar is bound to ({@code --listen 127.0.0.1:0} works).
 */
public final class TrainingRun {
  private static final long WAIT_SECONDS = 30;

  private TrainingRun() {}

  /** Returns the exit status: 0 when the sidecar got ready and answered the calls as expected. */
  public static int run(Sidecar sidecar, Vertx vertx, SidecarConfig config) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
    while (!sidecar.ready() && System.nanoTime() < deadline) {
      Thread.sleep(10); // readiness is a flag the event loops set; a start takes well under a second
    }
    int status = 1;
    String report = "not ready after " + WAIT_SECONDS + " s";
    if (sidecar.ready()) {
      HttpClient client = vertx.createHttpClient();
      try {
        HostPort admin = new HostPort(config.adminListen().host(), sidecar.adminPort());
        HostPort proxy = new HostPort(config.listen().host(), sidecar.proxyPort());
        int readyz = call(client, HttpMethod.GET, admin, "/readyz", null);
        int metrics = call(client, HttpMethod.GET, admin, "/metrics", null);
        int malformed = call(client, HttpMethod.POST, proxy, "/anthropic/v1/messages", "{\"model\":");
        report = "ready; /readyz " + readyz + ", /metrics " + metrics + ", a malformed call " + malformed;
        int refused = config.gateway() ? 401 : 400;
        status = readyz == 200 && metrics == 200 && malformed == refused ? 0 : 1;
      } catch (Exception e) {
        report = "ready, but a call failed: " + e;
      }
      client.close();
    }
    System.out.println("ratekeeper-sidecar: " + report + "; exiting (--exit-when-ready)");
    sidecar.close();
    vertx.close().toCompletionStage().toCompletableFuture().join();
    return status;
  }

  private static int call(HttpClient client, HttpMethod method, HostPort to, String path, String body) throws Exception {
    String host = to.host().equals("0.0.0.0") || to.host().equals("::") ? "127.0.0.1" : to.host();
    RequestOptions options = new RequestOptions().setMethod(method).setHost(host).setPort(to.port()).setURI(path)
        .putHeader("content-type", "application/json");
    Future<Integer> status = client.request(options)
        .compose(req -> body == null ? req.send() : req.send(Buffer.buffer(body)))
        .compose(resp -> resp.body().map(ignored -> resp.statusCode()));
    return status.toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
  }
}
