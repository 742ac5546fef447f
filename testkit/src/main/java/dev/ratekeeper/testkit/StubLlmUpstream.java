package dev.ratekeeper.testkit;

import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A stand-in LLM provider on a real socket. It answers Anthropic {@code /v1/messages} and OpenAI
 * {@code /v1/chat/completions}, {@code /v1/responses}, {@code /v1/completions}, {@code /v1/embeddings}
 * in their real wire formats, JSON or server-sent events, with the usage figures it is told to
 * report, and records what it received. Scripted responses (a 429 with retry-after, a 529, a slow
 * answer) let tests drive failures.
 *
 * <p>It also speaks Azure OpenAI ({@code /openai/deployments/{deployment}/...} and
 * {@code /openai/responses} with a required {@code api-version} query parameter, {@code /openai/v1/...},
 * a key in {@code api-key} or {@code authorization}, streams that open with a content-filter chunk),
 * and the streaming variations of OpenAI-compatible servers ({@link #dialect}).
 */
public final class StubLlmUpstream implements AutoCloseable {
  /** Text of each streamed delta; its length is what a sidecar sees forwarded. */
  public static final String DELTA_TEXT = "word ";

  private final Vertx vertx;
  private final boolean ownsVertx;
  private HttpServer server;

  /** Usage the stub reports. Output is capped at the request's own output cap. */
  public volatile long inputTokens = 25;
  public volatile long outputTokens = 15;
  public volatile long cacheReadTokens = 0;
  public volatile long cacheWriteTokens = 0;
  /** Streamed text deltas per response. */
  public volatile int streamDeltas = 5;
  /** Pause between streamed events. */
  public volatile long eventDelayMs = 0;
  /** Pause before answering at all (a slow provider). */
  public volatile long responseDelayMs = 0;

  /** How streamed OpenAI chat and completions answers report usage (OpenAI-compatible servers differ). */
  public volatile OpenAiDialect dialect = OpenAiDialect.OPENAI;

  /** Streamed usage as OpenAI-compatible servers report it. */
  public enum OpenAiDialect {
    /** OpenAI, vLLM, Ollama, Azure: a usage-only last chunk (empty choices) when asked with stream_options.include_usage. */
    OPENAI,
    /** Mistral, Together and others: usage on the last chunk, which also carries the last choice, asked or not. */
    USAGE_WITH_LAST_CHOICE,
    /** Groq: usage in the last chunk's x_groq.usage, asked or not. */
    GROQ,
    /** A server without include_usage support: it ignores stream_options and streams no usage at all. */
    NO_STREAM_USAGE,
    /** An older server (Azure api-versions before 2024-09-01-preview): stream_options is a 400; no streamed usage. */
    REJECTS_STREAM_OPTIONS,
    /**
     * Mistral: fields it does not know (stream_options, max_completion_tokens) are a 422; a stream's usage
     * comes on its last chunk, with the last choice, unasked.
     */
    MISTRAL
  }

  /** Headers added to every normal answer (e.g. the provider's rate-limit headers). */
  public final Map<String, String> answerHeaders = new java.util.concurrent.ConcurrentHashMap<>();
  private final ConcurrentLinkedQueue<Scripted> script = new ConcurrentLinkedQueue<>();
  private volatile Scripted always;
  private final AtomicLong requests = new AtomicLong();
  private final List<Recorded> recorded = new CopyOnWriteArrayList<>();
  private final AtomicInteger streamsCancelled = new AtomicInteger();
  private final AtomicInteger streamsCompleted = new AtomicInteger();
  private volatile int recordLimit = 1_000;

  /** A request as the stub received it. */
  public record Recorded(String method, String path, MultiMap headers, String body, String query) {}

  /** The last request's target and credentials, kept even when nothing else is recorded. */
  public record LastCall(String method, String uri, String apiKey, String authorization) {}

  private volatile LastCall lastCall;

  /** The last request received, or null. */
  public LastCall lastCall() {
    return lastCall;
  }

  /** A canned answer. */
  public record Scripted(int status, Map<String, String> headers, String body) {}

  private StubLlmUpstream(Vertx vertx, boolean ownsVertx) {
    this.vertx = vertx;
    this.ownsVertx = ownsVertx;
  }

  /** Starts on a free loopback port with a Vert.x of its own. */
  public static StubLlmUpstream start() {
    return start(Vertx.vertx(), true, 0);
  }

  public static StubLlmUpstream start(Vertx vertx, boolean ownsVertx, int port) {
    StubLlmUpstream stub = new StubLlmUpstream(vertx, ownsVertx);
    try {
      stub.server = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(port)
              .setIdleTimeout(120).setTcpNoDelay(true))
          .requestHandler(stub::handle)
          .listen()
          .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IllegalStateException("stub upstream did not start", e);
    }
    return stub;
  }

  public int port() {
    return server.actualPort();
  }

  public String url() {
    return "http://127.0.0.1:" + port();
  }

  /** Requests received, all paths. */
  public long requestCount() {
    return requests.get();
  }

  /** Requests received on {@code path}. */
  public long requestCount(String path) {
    return recorded.stream().filter(r -> r.path().equals(path)).count();
  }

  public List<Recorded> recorded() {
    return new ArrayList<>(recorded);
  }

  public Recorded lastRequest() {
    return recorded.isEmpty() ? null : recorded.get(recorded.size() - 1);
  }

  /** Stops keeping copies of requests beyond {@code limit} (benchmarks). */
  public void recordAtMost(int limit) {
    this.recordLimit = limit;
  }

  /** Streams the stub sent to their end. */
  public int streamsCompleted() {
    return streamsCompleted.get();
  }

  /** Streams whose client went away before the stub finished. */
  public int streamsCancelled() {
    return streamsCancelled.get();
  }

  /** The next request gets this answer instead of a normal one. */
  public void enqueue(int status, Map<String, String> headers, String body) {
    script.add(new Scripted(status, headers, body));
  }

  /** Every request gets this answer until {@link #reset()}. */
  public void answerAlways(int status, Map<String, String> headers, String body) {
    always = new Scripted(status, headers, body);
  }

  public void reset() {
    script.clear();
    always = null;
    recorded.clear();
    answerHeaders.clear();
    requests.set(0);
    streamsCancelled.set(0);
    streamsCompleted.set(0);
    eventDelayMs = 0;
    streamDeltas = 5;
    responseDelayMs = 0;
    dialect = OpenAiDialect.OPENAI;
  }

  @Override
  public void close() {
    try {
      server.close().toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
      if (ownsVertx) {
        vertx.close().toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
      }
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private void handle(HttpServerRequest req) {
    req.body().onSuccess(body -> {
      requests.incrementAndGet();
      String path = req.path();
      lastCall = new LastCall(req.method().name(), req.uri(), req.getHeader("api-key"), req.getHeader("authorization"));
      if (recorded.size() < recordLimit) {
        recorded.add(new Recorded(req.method().name(), path, MultiMap.caseInsensitiveMultiMap().addAll(req.headers()),
            body.toString(), req.query()));
      }
      Runnable answer = () -> answer(req, path, body);
      if (responseDelayMs > 0) {
        vertx.setTimer(responseDelayMs, id -> answer.run());
      } else {
        answer.run();
      }
    });
  }

  private void answer(HttpServerRequest req, String path, Buffer body) {
    HttpServerResponse resp = req.response();
    Scripted scripted = script.poll();
    if (scripted == null) {
      scripted = always;
    }
    if (scripted != null) {
      scripted.headers().forEach(resp::putHeader);
      resp.setStatusCode(scripted.status()).end(scripted.body());
      return;
    }
    answerHeaders.forEach(resp::putHeader);
    boolean azure = path.startsWith("/openai/");
    String deployment = null;
    if (azure) {
      AzurePath at = AzurePath.of(path);
      if (at.needsVersion() && req.getParam("api-version") == null) {
        resp.setStatusCode(404).putHeader("content-type", "application/json")
            .end("{\"error\":{\"code\":\"404\",\"message\":\"Resource not found\"}}");
        return;
      }
      if (req.getHeader("api-key") == null && req.getHeader("authorization") == null) {
        resp.setStatusCode(401).putHeader("content-type", "application/json")
            .end("{\"error\":{\"code\":\"401\",\"message\":\"Access denied due to invalid subscription key or wrong"
                + " API endpoint.\"}}");
        return;
      }
      path = at.openAiPath();
      deployment = at.deployment();
    }
    if (req.method().name().equals("GET") && path.equals("/v1/models")) {
      json(resp, new JsonObject().put("object", "list").put("data", new JsonArray()
          .add(new JsonObject().put("id", "stub-model").put("object", "model"))));
      return;
    }
    JsonObject request;
    try {
      request = body.length() == 0 ? new JsonObject() : body.toJsonObject();
    } catch (RuntimeException e) {
      resp.setStatusCode(400).end("{\"error\":{\"message\":\"stub: bad json\"}}");
      return;
    }
    String model = request.getString("model", deployment == null ? "stub-model" : deployment);
    if (dialect == OpenAiDialect.MISTRAL) {
      for (String field : new String[] {"stream_options", "max_completion_tokens"}) {
        if (request.containsKey(field)) {
          resp.setStatusCode(422).putHeader("content-type", "application/json").end(new JsonObject()
              .put("object", "error").put("message", new JsonObject().put("detail", new JsonArray().add(new JsonObject()
                  .put("type", "extra_forbidden").put("loc", new JsonArray().add("body").add(field))
                  .put("msg", "Extra inputs are not permitted")))).put("type", "invalid_request_error")
              .putNull("param").putNull("code").encode());
          return;
        }
      }
    }
    boolean stream = Boolean.TRUE.equals(request.getValue("stream"));
    long cap = firstLong(request, "max_tokens", "max_completion_tokens", "max_output_tokens");
    long output = cap > 0 ? Math.min(outputTokens, cap) : outputTokens;
    switch (path) {
      case "/v1/messages" -> {
        resp.putHeader("request-id", "req_stub_" + requests.get());
        resp.putHeader("anthropic-ratelimit-requests-remaining", "999");
        answerHeaders.forEach(resp::putHeader);
        if (stream) {
          anthropicStream(resp, model, output);
        } else {
          json(resp, anthropicMessage(model, output));
        }
      }
      case "/v1/chat/completions", "/v1/completions" -> {
        resp.putHeader("x-request-id", "req_stub_" + requests.get());
        resp.putHeader("x-ratelimit-remaining-requests", "999");
        answerHeaders.forEach(resp::putHeader);
        boolean chat = path.equals("/v1/chat/completions");
        if (stream) {
          JsonObject opts = request.getJsonObject("stream_options");
          if (opts != null && dialect == OpenAiDialect.REJECTS_STREAM_OPTIONS) {
            resp.setStatusCode(400).putHeader("content-type", "application/json").end("{\"error\":{\"code\":"
                + "\"invalid_request_error\",\"message\":\"Unrecognized request argument supplied: stream_options\"}}");
            return;
          }
          openAiStream(resp, model, output, chat, opts != null && opts.getBoolean("include_usage", false), azure);
        } else {
          json(resp, openAiCompletion(model, output, chat));
        }
      }
      case "/v1/responses" -> {
        resp.putHeader("x-request-id", "req_stub_" + requests.get());
        if (stream) {
          responsesStream(resp, model, output);
        } else {
          json(resp, responsesObject(model, output));
        }
      }
      case "/v1/messages/count_tokens" -> json(resp, new JsonObject().put("input_tokens", inputTokens));
      case "/v1/messages/batches" -> json(resp, new JsonObject().put("id", "msgbatch_stub_" + requests.get())
          .put("type", "message_batch").put("processing_status", "in_progress")
          .put("request_counts", new JsonObject().put("processing", request.getJsonArray("requests", new JsonArray()).size())));
      case "/v1/embeddings" -> json(resp, new JsonObject().put("object", "list")
          .put("data", new JsonArray().add(new JsonObject().put("object", "embedding").put("index", 0)
              .put("embedding", new JsonArray().add(0.1).add(0.2))))
          .put("model", model)
          .put("usage", new JsonObject().put("prompt_tokens", inputTokens).put("total_tokens", inputTokens)));
      default -> resp.setStatusCode(404).end("{\"error\":{\"message\":\"stub: no route " + path + "\"}}");
    }
  }

  private static long firstLong(JsonObject o, String... fields) {
    for (String f : fields) {
      Object v = o.getValue(f);
      if (v instanceof Number n) {
        return n.longValue();
      }
    }
    return -1;
  }

  private static void json(HttpServerResponse resp, JsonObject body) {
    resp.putHeader("content-type", "application/json").end(body.encode());
  }

  private String text(int deltas) {
    return DELTA_TEXT.repeat(deltas);
  }

  private JsonObject anthropicUsage(long output) {
    return new JsonObject().put("input_tokens", inputTokens).put("cache_creation_input_tokens", cacheWriteTokens)
        .put("cache_read_input_tokens", cacheReadTokens).put("output_tokens", output);
  }

  private JsonObject anthropicMessage(String model, long output) {
    return new JsonObject().put("id", "msg_stub_" + requests.get()).put("type", "message").put("role", "assistant")
        .put("model", model)
        .put("content", new JsonArray().add(new JsonObject().put("type", "text").put("text", text(streamDeltas))))
        .put("stop_reason", "end_turn").putNull("stop_sequence").put("usage", anthropicUsage(output));
  }

  private JsonObject openAiUsage(long output) {
    long prompt = inputTokens + cacheReadTokens;
    return new JsonObject().put("prompt_tokens", prompt).put("completion_tokens", output)
        .put("total_tokens", prompt + output)
        .put("prompt_tokens_details", new JsonObject().put("cached_tokens", cacheReadTokens));
  }

  private JsonObject openAiCompletion(String model, long output, boolean chat) {
    JsonObject choice = new JsonObject().put("index", 0).put("finish_reason", "stop");
    if (chat) {
      choice.put("message", new JsonObject().put("role", "assistant").put("content", text(streamDeltas)));
    } else {
      choice.put("text", text(streamDeltas));
    }
    return new JsonObject().put("id", "chatcmpl-stub").put("object", chat ? "chat.completion" : "text_completion")
        .put("created", 1_700_000_000L).put("model", model).put("choices", new JsonArray().add(choice))
        .put("usage", openAiUsage(output));
  }

  private JsonObject responsesUsage(long output) {
    long input = inputTokens + cacheReadTokens;
    return new JsonObject().put("input_tokens", input)
        .put("input_tokens_details", new JsonObject().put("cached_tokens", cacheReadTokens))
        .put("output_tokens", output).put("total_tokens", input + output);
  }

  private JsonObject responsesObject(String model, long output) {
    return new JsonObject().put("id", "resp_stub").put("object", "response").put("status", "completed")
        .put("model", model)
        .put("output", new JsonArray().add(new JsonObject().put("type", "message").put("role", "assistant")
            .put("content", new JsonArray().add(new JsonObject().put("type", "output_text").put("text", text(streamDeltas))))))
        .put("usage", responsesUsage(output));
  }

  private void anthropicStream(HttpServerResponse resp, String model, long output) {
    List<String> events = new ArrayList<>();
    JsonObject message = new JsonObject().put("id", "msg_stub").put("type", "message").put("role", "assistant")
        .put("model", model).put("content", new JsonArray()).putNull("stop_reason")
        .put("usage", anthropicUsage(1));
    events.add(sse("message_start", new JsonObject().put("type", "message_start").put("message", message)));
    events.add(sse("content_block_start", new JsonObject().put("type", "content_block_start").put("index", 0)
        .put("content_block", new JsonObject().put("type", "text").put("text", ""))));
    events.add(sse("ping", new JsonObject().put("type", "ping")));
    for (int i = 0; i < streamDeltas; i++) {
      events.add(sse("content_block_delta", new JsonObject().put("type", "content_block_delta").put("index", 0)
          .put("delta", new JsonObject().put("type", "text_delta").put("text", DELTA_TEXT))));
    }
    events.add(sse("content_block_stop", new JsonObject().put("type", "content_block_stop").put("index", 0)));
    events.add(sse("message_delta", new JsonObject().put("type", "message_delta")
        .put("delta", new JsonObject().put("stop_reason", "end_turn").putNull("stop_sequence"))
        .put("usage", new JsonObject().put("output_tokens", output))));
    events.add(sse("message_stop", new JsonObject().put("type", "message_stop")));
    stream(resp, events);
  }

  private void openAiStream(HttpServerResponse resp, String model, long output, boolean chat, boolean asked,
      boolean azure) {
    OpenAiDialect how = dialect;
    boolean includeUsage = asked && how == OpenAiDialect.OPENAI;
    List<String> events = new ArrayList<>();
    if (azure && chat) {
      // Azure opens a chat stream with its prompt's content-filter results: no choices, no usage
      events.add("data: " + new JsonObject().put("id", "").put("object", "").put("created", 0).put("model", "")
          .put("choices", new JsonArray()).put("prompt_filter_results", new JsonArray().add(new JsonObject()
              .put("prompt_index", 0).put("content_filter_results", new JsonObject()))).encode() + "\n\n");
    }
    for (int i = 0; i < streamDeltas; i++) {
      JsonObject choice = new JsonObject().put("index", 0);
      if (chat) {
        choice.put("delta", new JsonObject().put("content", DELTA_TEXT));
      } else {
        choice.put("text", DELTA_TEXT);
      }
      choice.put("finish_reason", i == streamDeltas - 1 ? "stop" : null);
      JsonObject chunk = new JsonObject().put("id", "chatcmpl-stub")
          .put("object", chat ? "chat.completion.chunk" : "text_completion").put("model", model)
          .put("choices", new JsonArray().add(choice));
      if (includeUsage) {
        chunk.putNull("usage");
      }
      boolean last = i == streamDeltas - 1;
      if (last && (how == OpenAiDialect.USAGE_WITH_LAST_CHOICE || how == OpenAiDialect.MISTRAL)) {
        chunk.put("usage", openAiUsage(output));
      } else if (how == OpenAiDialect.GROQ) {
        JsonObject groq = new JsonObject().put("id", "req_stub_groq");
        if (last) {
          groq.put("usage", openAiUsage(output).put("queue_time", 0.01).put("completion_time", 0.02));
        }
        chunk.put("x_groq", groq);
      }
      events.add("data: " + chunk.encode() + "\n\n");
    }
    if (includeUsage) {
      events.add("data: " + new JsonObject().put("id", "chatcmpl-stub")
          .put("object", chat ? "chat.completion.chunk" : "text_completion").put("model", model)
          .put("choices", new JsonArray()).put("usage", openAiUsage(output)).encode() + "\n\n");
    }
    events.add("data: [DONE]\n\n");
    stream(resp, events);
  }

  private void responsesStream(HttpServerResponse resp, String model, long output) {
    List<String> events = new ArrayList<>();
    events.add(sse("response.created", new JsonObject().put("type", "response.created")
        .put("response", new JsonObject().put("id", "resp_stub").put("status", "in_progress"))));
    for (int i = 0; i < streamDeltas; i++) {
      events.add(sse("response.output_text.delta", new JsonObject().put("type", "response.output_text.delta")
          .put("delta", DELTA_TEXT)));
    }
    events.add(sse("response.completed", new JsonObject().put("type", "response.completed")
        .put("response", responsesObject(model, output))));
    stream(resp, events);
  }

  private static String sse(String event, JsonObject data) {
    return "event: " + event + "\ndata: " + data.encode() + "\n\n";
  }

  private void stream(HttpServerResponse resp, List<String> events) {
    resp.setChunked(true).putHeader("content-type", "text/event-stream").putHeader("cache-control", "no-cache");
    boolean[] gone = {false};
    resp.closeHandler(v -> {
      if (!resp.ended()) {
        gone[0] = true;
        streamsCancelled.incrementAndGet();
      }
    });
    if (eventDelayMs <= 0) {
      StringBuilder all = new StringBuilder();
      events.forEach(all::append);
      resp.end(all.toString());
      streamsCompleted.incrementAndGet();
      return;
    }
    sendNext(resp, events, 0, gone);
  }

  private void sendNext(HttpServerResponse resp, List<String> events, int index, boolean[] gone) {
    if (gone[0]) {
      return;
    }
    if (index == events.size()) {
      resp.end();
      streamsCompleted.incrementAndGet();
      return;
    }
    resp.write(events.get(index));
    vertx.setTimer(eventDelayMs, id -> sendNext(resp, events, index + 1, gone));
  }

  /**
   * An Azure OpenAI path and the OpenAI path it serves: {@code /openai/deployments/{d}/chat/completions}
   * and {@code /openai/responses} need {@code api-version}; the v1 API ({@code /openai/v1/...}) does not.
   */
  private record AzurePath(String openAiPath, String deployment, boolean needsVersion) {
    static AzurePath of(String path) {
      String deployments = "/openai/deployments/";
      if (path.startsWith(deployments)) {
        int end = path.indexOf('/', deployments.length());
        if (end > 0) {
          return new AzurePath("/v1" + path.substring(end), path.substring(deployments.length(), end), true);
        }
      }
      if (path.startsWith("/openai/v1/")) {
        return new AzurePath(path.substring("/openai".length()), null, false);
      }
      return new AzurePath("/v1" + path.substring("/openai".length()), null, true);
    }
  }
}
