import io.vertx.core.AbstractVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;

/**
 * The floor under the sidecar in bench/proxy.sh: the least a Vert.x proxy does for one call, on the
 * sidecar's own Vert.x and options (one server instance per core, keep-alive upstream pool, no
 * decompression, HTTP/1.1 only). It reads the request body, sends it upstream, reads the answer and
 * writes it back, with no limits, parsing, metrics or header policy. The sidecar's CPU per request
 * minus this one's is what Ratekeeper's own work costs; this one against nginx's is the price of
 * the JVM and the framework under the same JIT flags.
 *
 * <p>Run (not a test): {@code java -cp ratekeeper-sidecar.jar bench/proxy/VertxFloor.java PORT
 * UPSTREAM_PORT}. Prints "ready" when listening.
 */
public class VertxFloor {
  public static void main(String[] args) {
    int port = Integer.parseInt(args[0]);
    int upstreamPort = Integer.parseInt(args[1]);
    Vertx vertx = Vertx.vertx();
    HttpClient client = vertx.createHttpClient(
        new HttpClientOptions().setKeepAlive(true).setTcpNoDelay(true).setDecompressionSupported(false),
        new PoolOptions().setHttp1MaxSize(256));
    HttpServerOptions options = new HttpServerOptions().setHost("127.0.0.1").setPort(port).setTcpNoDelay(true)
        .setDecompressionSupported(false).setHttp2ClearTextEnabled(false);
    int instances = Math.max(1, Runtime.getRuntime().availableProcessors());
    vertx.deployVerticle(() -> new AbstractVerticle() {
      @Override
      public void start(Promise<Void> started) {
        vertx.createHttpServer(options).requestHandler(request -> request.body().onSuccess(body -> {
          RequestOptions upstream = new RequestOptions().setHost("127.0.0.1").setPort(upstreamPort)
              .setMethod(request.method()).setURI(request.uri())
              .putHeader(HttpHeaders.CONTENT_TYPE, request.getHeader(HttpHeaders.CONTENT_TYPE));
          client.request(upstream)
              .compose(call -> call.send(body))
              .compose(answer -> answer.body().map(bytes -> {
                request.response().setStatusCode(answer.statusCode())
                    .putHeader(HttpHeaders.CONTENT_TYPE, answer.getHeader(HttpHeaders.CONTENT_TYPE)).end(bytes);
                return bytes;
              }))
              .onFailure(e -> request.response().setStatusCode(502).end());
        })).listen().<Void>mapEmpty().onComplete(started);
      }
    }, new DeploymentOptions().setInstances(instances)).onSuccess(id -> System.out.println("ready"))
        .onFailure(e -> {
          e.printStackTrace();
          System.exit(1);
        });
  }
}
