package dev.ratekeeper.testkit;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The stub provider as a process of its own, for benchmarks and for checks that drive a sidecar from
 * another language (sdk-check/):
 *
 * <pre>
 *   java -cp demo/target/ratekeeper-demo.jar dev.ratekeeper.testkit.StubServerMain \
 *        --port 9001 [--control-port 9002] [--instances 1]
 * </pre>
 *
 * Prints {@code stub listening on http://127.0.0.1:<port>} once it serves, then runs until killed.
 * {@code --instances N} starts N servers on the same port (Vert.x spreads connections over their event
 * loops), so the stub is not the bottleneck of a throughput run. The optional control port answers
 * {@code GET /requests} (requests the stub received, as a number), {@code POST /reset} (forget them and
 * any scripted answer) and {@code POST /enqueue} with {@code {"status": 429, "headers": {...},
 * "body": "..."}}: with one instance, the next request, whatever its path, gets that answer instead of
 * a normal one (a provider's own 429 or 529); {@code POST /dialect} with a
 * {@link StubLlmUpstream.OpenAiDialect} name switches how OpenAI streams report usage (until
 * {@code /reset}); {@code GET /last} answers the last request's method, URI and credential headers
 * (so a check can see that {@code api-version} and Azure's {@code api-key} arrived). Nothing else is
 * recorded beyond the count.
 */
public final class StubServerMain {
  private StubServerMain() {}

  public static void main(String[] args) throws Exception {
    int port = 0;
    int controlPort = -1;
    int instances = 1;
    for (int i = 0; i < args.length; i++) {
      String value = i + 1 < args.length ? args[i + 1] : null;
      switch (args[i]) {
        case "--port" -> port = Integer.parseInt(need(args[i], value));
        case "--control-port" -> controlPort = Integer.parseInt(need(args[i], value));
        case "--instances" -> instances = Integer.parseInt(need(args[i], value));
        default -> usage("unknown argument " + args[i]);
      }
      i++;
    }
    if (instances < 1 || (instances > 1 && port == 0)) {
      usage("--instances needs a fixed --port and must be at least 1");
    }
    Vertx vertx = Vertx.vertx();
    List<StubLlmUpstream> stubs = new ArrayList<>();
    for (int i = 0; i < instances; i++) {
      StubLlmUpstream stub = StubLlmUpstream.start(vertx, false, port);
      stub.recordAtMost(0);
      stubs.add(stub);
    }
    if (controlPort >= 0) {
      HttpServer control = vertx.createHttpServer()
          .requestHandler(req -> control(req, stubs))
          .listen(controlPort, "127.0.0.1")
          .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      System.out.println("stub control on http://127.0.0.1:" + control.actualPort());
    }
    System.out.println("stub listening on " + stubs.get(0).url());
    System.out.flush();
    Runtime.getRuntime().addShutdownHook(new Thread(vertx::close, "stub-shutdown"));
    new CountDownLatch(1).await();
  }

  private static void control(HttpServerRequest req, List<StubLlmUpstream> stubs) {
    switch (req.method().name() + " " + req.path()) {
      case "GET /requests" -> req.response().putHeader("content-type", "text/plain")
          .end(Long.toString(stubs.stream().mapToLong(StubLlmUpstream::requestCount).sum()));
      case "POST /reset" -> {
        stubs.forEach(StubLlmUpstream::reset);
        req.response().setStatusCode(204).end();
      }
      case "POST /enqueue" -> req.body().onComplete(body -> {
        try {
          JsonObject answer = body.result().toJsonObject();
          Map<String, String> headers = new LinkedHashMap<>();
          answer.getJsonObject("headers", new JsonObject())
              .forEach(e -> headers.put(e.getKey(), String.valueOf(e.getValue())));
          stubs.get(0).enqueue(answer.getInteger("status"), headers, answer.getString("body", ""));
          req.response().setStatusCode(204).end();
        } catch (RuntimeException e) {
          req.response().setStatusCode(400).end("expected {\"status\": N, \"headers\": {...}, \"body\": \"...\"}\n");
        }
      });
      case "GET /last" -> {
        StubLlmUpstream.LastCall last = stubs.get(0).lastCall();
        JsonObject answer = last == null ? new JsonObject() : new JsonObject().put("method", last.method())
            .put("uri", last.uri()).put("apiKey", last.apiKey()).put("authorization", last.authorization());
        req.response().putHeader("content-type", "application/json").end(answer.encode());
      }
      case "POST /dialect" -> req.body().onComplete(body -> {
        try {
          StubLlmUpstream.OpenAiDialect dialect = StubLlmUpstream.OpenAiDialect.valueOf(body.result().toString().trim());
          stubs.forEach(stub -> stub.dialect = dialect);
          req.response().setStatusCode(204).end();
        } catch (RuntimeException e) {
          req.response().setStatusCode(400).end("expected one of "
              + java.util.Arrays.toString(StubLlmUpstream.OpenAiDialect.values()) + "\n");
        }
      });
      default -> req.response().setStatusCode(404)
          .end("GET /requests | GET /last | POST /reset | POST /enqueue | POST /dialect\n");
    }
  }

  private static String need(String flag, String value) {
    if (value == null) {
      usage(flag + " needs a value");
    }
    return value;
  }

  private static void usage(String problem) {
    System.err.println("stub: " + problem);
    System.err.println("usage: StubServerMain --port PORT [--control-port PORT] [--instances N]");
    System.exit(2);
  }
}
