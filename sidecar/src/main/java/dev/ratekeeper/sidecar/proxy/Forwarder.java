package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledUpstream;
import dev.ratekeeper.sidecar.time.SidecarClock;
import dev.ratekeeper.sidecar.upstream.CooldownScope;
import dev.ratekeeper.sidecar.wire.AnswerUsage;
import dev.ratekeeper.sidecar.wire.MeteredRequest;
import dev.ratekeeper.sidecar.wire.ProviderError;
import dev.ratekeeper.sidecar.wire.SseUsageTracker;
import io.netty.channel.ConnectTimeoutException;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import java.net.URI;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * The forward stage: sends admitted requests upstream over pooled keep-alive connections (TLS for
 * https) and streams the answer back chunk by chunk with back-pressure, reading the provider's usage
 * on the way. It tells the call's {@link Settlement} how the exchange ended — the answer's end, a
 * provider throttle, an upstream failure, or the client gone (then the upstream call is cancelled
 * too) — and what the answer showed of its usage; what is charged is the settlement's decision.
 * Failures before an answer began are answered by the {@link Responder}.
 */
public final class Forwarder {
  /** Longest a provider's 429 waits for its cooldown to be shared before it is relayed anyway. */
  static final long SHARE_WAIT_MS = 200;
  private static final System.Logger LOG = System.getLogger(Forwarder.class.getName());

  private final HttpClientAgent client;
  private final Map<String, String> urlOverrides;
  private final Map<String, String> providerKeys;
  private final long connectTimeoutMs;
  private final long responseTimeoutMs;
  private final UpstreamObserver observer;
  private final SidecarClock clock;
  private final Map<String, Target> targets = new ConcurrentHashMap<>();

  /**
   * Told how each upstream answered: its throttles start shared cooldowns, its successes end them;
   * each for the {@link CooldownScope} it applies to.
   */
  public interface UpstreamObserver {
    /** The provider answered 429 or 529 for {@code scope}; completes once the cooldown is shared. */
    Future<Void> throttled(CooldownScope scope, MultiMap headers);

    /**
     * The provider answered with anything else a request sent at {@code sentNanos}
     * ({@link SidecarClock#nanos()}) with the credential of {@code scope}; {@code headers} may show its
     * own quota nearly spent — for {@code quotaScope} (the model's on OpenAI, else the credential's).
     */
    void answered(CooldownScope scope, CooldownScope quotaScope, long sentNanos, MultiMap headers);
  }

  /** Whether the sidecar holds the provider key of the upstream named {@code upstream} (and sends it itself). */
  boolean holdsKey(String upstream) {
    return providerKeys.containsKey(upstream);
  }

  public Forwarder(Vertx vertx, Map<String, String> urlOverrides, Map<String, String> providerKeys,
      long connectTimeoutMs, long responseTimeoutMs, UpstreamObserver observer, SidecarClock clock) {
    this.client = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true).setTcpNoDelay(true)
            .setDecompressionSupported(false).setConnectTimeout((int) connectTimeoutMs),
        new PoolOptions().setHttp1MaxSize(256));
    this.urlOverrides = Map.copyOf(urlOverrides);
    this.providerKeys = Map.copyOf(providerKeys);
    this.connectTimeoutMs = connectTimeoutMs;
    this.responseTimeoutMs = responseTimeoutMs;
    this.observer = observer;
    this.clock = clock;
  }

  private record Target(String host, int port, boolean ssl, String basePath) {}

  private Target target(CompiledUpstream upstream) {
    String url = urlOverrides.getOrDefault(upstream.name(), upstream.url());
    return targets.computeIfAbsent(url, u -> {
      URI uri = URI.create(u);
      boolean ssl = "https".equals(uri.getScheme());
      int port = uri.getPort() > 0 ? uri.getPort() : ssl ? 443 : 80;
      String base = uri.getRawPath() == null || uri.getRawPath().equals("/") ? "" : uri.getRawPath();
      return new Target(uri.getHost(), port, ssl, base.endsWith("/") ? base.substring(0, base.length() - 1) : base);
    });
  }

  private RequestOptions options(HttpServerRequest req, Target target, String path) {
    return new RequestOptions().setMethod(req.method()).setHost(target.host()).setPort(target.port())
        .setSsl(target.ssl()).setURI(target.basePath() + path).setConnectTimeout(connectTimeoutMs)
        .setIdleTimeout(responseTimeoutMs);
  }

  /**
   * Forwards an admitted metered call, {@code plan}'s request (re-serialized when the sidecar edited
   * it, else {@code originalBody}), and reports how it ended to {@code settlement}; {@code scope}: the
   * call's cooldown scope, for the provider's answer; {@code loop}: the request's.
   */
  void forwardMetered(HttpServerRequest req, RequestPlan plan, Buffer originalBody, Settlement settlement,
      Map<String, String> extraHeaders, Responder responder, CooldownScope scope, Loop loop, Consumer<Boolean> ended) {
    CompiledPolicy policy = plan.policy();
    Route route = plan.route();
    CompiledUpstream upstream = route.upstream();
    MeteredRequest request = plan.request();
    Buffer body;
    MultiMap headers;
    try {
      body = request.rewritten() ? Buffer.buffer(request.toBytes()) : originalBody;
      headers = Headers.upstreamRequest(req.headers(), policy.identity(), upstream.format(),
          providerKeys.get(upstream.name()), true);
    } catch (RuntimeException | Error e) {
      // nothing was sent: the admission's charge and lease go back before the pipeline answers 500
      settlement.failed();
      ended.accept(false);
      throw e;
    }
    Exchange exchange = new Exchange(req, plan, settlement, responder, scope, loop, ended);
    req.response().closeHandler(v -> exchange.clientGone());
    client.request(options(req, target(upstream), request.forwardPath(route.upstreamPath())))
        .compose(creq -> {
          exchange.upstreamRequest = creq;
          creq.headers().addAll(headers);
          if (exchange.done.get()) {
            creq.reset();
            return Future.failedFuture("client gone");
          }
          exchange.sent = true;
          return creq.send(body);
        })
        .onSuccess(resp -> {
          try {
            exchange.relay(resp, extraHeaders);
          } catch (Throwable t) {
            exchange.upstreamFailed(t);
          }
        })
        .onFailure(exchange::upstreamFailed);
  }

  /**
   * Forwards a call that is not metered, streaming its body both ways; {@code tags}: for a failure's
   * answer; {@code scope}: the call's cooldown scope; {@code ended}: told once the exchange is over
   * whether the call was sent to the provider.
   */
  void forwardUnmetered(HttpServerRequest req, CompiledPolicy policy, Route route, Map<String, String> extraHeaders,
      Outcome.Tags tags, Responder responder, CooldownScope scope, Loop loop, Consumer<Boolean> ended) {
    CompiledUpstream upstream = route.upstream();
    MultiMap headers = Headers.upstreamRequest(req.headers(), policy.identity(), upstream.format(),
        providerKeys.get(upstream.name()), false);
    HttpServerResponse out = req.response();
    long sent = clock.nanos();
    AtomicBoolean sentToProvider = new AtomicBoolean();
    client.request(options(req, target(upstream), route.upstreamPath()))
        .compose(creq -> {
          sentToProvider.set(true);
          creq.headers().addAll(headers);
          String length = req.getHeader("content-length");
          if (length != null) {
            creq.putHeader("content-length", length);
          } else if (req.method().name().equals("GET") || req.method().name().equals("HEAD")) {
            req.resume();
            return creq.send();
          } else {
            creq.setChunked(true);
          }
          out.closeHandler(v -> creq.reset());
          return creq.send(req);
        })
        .onSuccess(resp -> {
          try {
            observe(scope, null, null, resp, sent, loop, () -> {
              out.setStatusCode(resp.statusCode()).setStatusMessage(resp.statusMessage());
              Headers.copyResponse(resp.headers(), out.headers(), false);
              extraHeaders.forEach(out::putHeader);
              if (out.headers().get("content-length") == null) {
                out.setChunked(true);
              }
              resp.pipeTo(out).onComplete(v -> ended.accept(true));
            }, body -> {
              relayWhole(resp, out, body, extraHeaders);
              ended.accept(true);
            });
          } catch (Throwable t) {
            responder.answer(req, new Outcome.UpstreamFailed(tags, upstreamError(t, upstream)));
            ended.accept(true);
          }
        })
        .onFailure(err -> {
          responder.answer(req, new Outcome.UpstreamFailed(tags, upstreamError(err, upstream)));
          ended.accept(sentToProvider.get());
        });
  }

  /**
   * Tells the observer how the upstream answered, then relays it. A provider throttle (429, 529) is
   * read whole (it is small) to see whether it names the model ({@link CooldownScope}), and relayed
   * with {@code relayThrottle} only once the cooldown is shared (or after {@link #SHARE_WAIT_MS}), so
   * a client that retries at once through another sidecar already meets the cooldown there (then
   * on the request's {@code loop}). {@code model}: the model a metered call asked for, else null;
   * {@code format}: the call's format.
   */
  private void observe(CooldownScope scope, String model, dev.ratekeeper.policy.api.UpstreamFormat format,
      HttpClientResponse resp, long sentNanos, Loop loop, Runnable relay, Consumer<Buffer> relayThrottle) {
    if (resp.statusCode() == 429 || resp.statusCode() == 529) {
      resp.body().onComplete(read -> {
        Buffer body = read.succeeded() ? read.result() : Buffer.buffer();
        CooldownScope modelScope = scope.model(model);
        CooldownScope applies = modelScope != null && resp.statusCode() == 429
            && CooldownScope.namesModel(body.toString(java.nio.charset.StandardCharsets.UTF_8), model) ? modelScope : scope;
        loop.on(observer.throttled(applies, resp.headers()).timeout(SHARE_WAIT_MS, TimeUnit.MILLISECONDS))
            .onComplete(v -> relayThrottle.accept(body));
      });
    } else {
      CooldownScope modelScope = scope.model(model);
      boolean perModelQuota = modelScope != null && format.openAiWire();
      observer.answered(scope, perModelQuota ? modelScope : scope, sentNanos, resp.headers());
      relay.run();
    }
  }

  /** Relays an answer that was read whole (a provider throttle), its headers untouched. */
  private static void relayWhole(HttpClientResponse resp, HttpServerResponse out, Buffer body,
      Map<String, String> extraHeaders) {
    if (out.ended() || out.closed()) {
      return;
    }
    out.setStatusCode(resp.statusCode()).setStatusMessage(resp.statusMessage());
    Headers.copyResponse(resp.headers(), out.headers(), true);
    extraHeaders.forEach(out::putHeader);
    out.end(body);
  }

  static ProviderError upstreamError(Throwable err, CompiledUpstream upstream) {
    return timedOut(err)
        ? ProviderError.of(ProviderError.Kind.UPSTREAM_TIMEOUT, "upstream " + upstream.name() + " timed out")
        : ProviderError.of(ProviderError.Kind.UPSTREAM_FAILED, "upstream " + upstream.name() + " failed: "
            + err.getClass().getSimpleName());
  }

  /**
   * Whether the upstream call failed by a time-out: the client's connect time-out (Netty's
   * {@link ConnectTimeoutException}), its idle time-out (a {@link TimeoutException}), or either as the
   * cause of another failure.
   */
  static boolean timedOut(Throwable err) {
    for (Throwable t = err; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof TimeoutException || t instanceof ConnectTimeoutException
          || t instanceof io.netty.handler.timeout.TimeoutException) {
        return true;
      }
    }
    return false;
  }

  /** One metered call in flight. */
  private final class Exchange {
    final HttpServerRequest req;
    final RequestPlan plan;
    final MeteredRequest request;
    final Route route;
    final Settlement settlement;
    final Responder responder;
    final CooldownScope scope;
    final Loop loop;
    final AtomicBoolean done = new AtomicBoolean();
    /** Told once, at the exchange's end, whether the call was sent to the provider (CooldownGate). */
    final Consumer<Boolean> ended;
    volatile HttpClientRequest upstreamRequest;
    volatile boolean sent;
    SseUsageTracker tracker;
    ResponseTail tail;
    int status;

    Exchange(HttpServerRequest req, RequestPlan plan, Settlement settlement, Responder responder,
        CooldownScope scope, Loop loop, Consumer<Boolean> ended) {
      this.ended = ended;
      this.req = req;
      this.plan = plan;
      this.request = plan.request();
      this.route = plan.route();
      this.settlement = settlement;
      this.responder = responder;
      this.scope = scope;
      this.loop = loop;
    }

    void relay(HttpClientResponse resp, Map<String, String> extraHeaders) {
      if (done.get()) {
        return;
      }
      status = resp.statusCode();
      observe(scope, request.quotaName(), route.upstream().format(), resp, settlement.startedNanos(), loop,
          () -> relayNow(resp, extraHeaders), body -> {
            if (done.compareAndSet(false, true)) {
              settle(Settlement::throttled);
              relayWhole(resp, req.response(), body, extraHeaders);
            }
          });
    }

    private void relayNow(HttpClientResponse resp, Map<String, String> extraHeaders) {
      HttpServerResponse out = req.response();
      status = resp.statusCode();
      String type = resp.getHeader("content-type");
      boolean sse = type != null && type.startsWith("text/event-stream");
      boolean hide = sse && request.injectedUsageRequest();
      if (sse) {
        tracker = new SseUsageTracker(request.endpoint(), hide);
      } else {
        tail = new ResponseTail(request.endpoint());
      }
      out.setStatusCode(status).setStatusMessage(resp.statusMessage());
      Headers.copyResponse(resp.headers(), out.headers(), hide);
      extraHeaders.forEach(out::putHeader);
      if (out.headers().get("content-length") == null) {
        out.setChunked(true);
      }
      resp.handler(chunk -> {
        Buffer send = chunk;
        if (tracker != null) {
          byte[] passed = tracker.accept(chunk.getBytes());
          send = hide ? Buffer.buffer(passed) : chunk;
        } else {
          tail.add(chunk);
        }
        if (send.length() > 0 && !out.closed()) {
          out.write(send);
          if (out.writeQueueFull()) {
            resp.pause();
            out.drainHandler(v -> resp.resume());
          }
        }
      });
      resp.exceptionHandler(err -> {
        if (done.compareAndSet(false, true)) {
          out.reset();
          settle(s -> s.cutShort(status, seen()));
        }
      });
      resp.endHandler(v -> {
        if (tracker != null) {
          byte[] rest = tracker.finish();
          if (rest.length > 0 && !out.closed()) {
            out.write(Buffer.buffer(rest));
          }
        }
        if (done.compareAndSet(false, true)) {
          // the charge, and the release of the call's concurrency slot, leave for the store before the
          // client sees the end of the answer: its next call (through any sidecar) finds the slot free
          settle(s -> s.answered(status, seen()));
          out.end();
        }
      });
    }

    /** The client went away: cancel the upstream call and charge what was used so far. */
    void clientGone() {
      if (done.compareAndSet(false, true)) {
        HttpClientRequest creq = upstreamRequest;
        if (creq != null) {
          creq.reset();
        }
        settle(s -> s.cutShort(status, seen()));
      }
    }

    void upstreamFailed(Throwable err) {
      if (done.compareAndSet(false, true)) {
        // settled before the answer, as at the end of an answer
        settle(Settlement::failed);
        responder.answer(req, new Outcome.UpstreamFailed(plan.tags(), upstreamError(err, route.upstream())));
      }
    }

    /** Reports how the exchange ended to the settlement (once: every caller holds {@code done}), then to {@link #ended}. */
    private void settle(Consumer<Settlement> how) {
      how.accept(settlement);
      ended.accept(sent);
    }

    /** What the answer showed of its usage so far: null before an answer began. */
    private AnswerUsage seen() {
      return tracker != null ? tracker : tail;
    }
  }
}
