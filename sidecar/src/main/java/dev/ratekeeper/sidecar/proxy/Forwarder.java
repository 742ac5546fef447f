package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledUpstream;
import dev.ratekeeper.sidecar.identity.Caller;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.metrics.SidecarMetrics;
import dev.ratekeeper.sidecar.upstream.CooldownScope;
import dev.ratekeeper.sidecar.wire.MeteredRequest;
import dev.ratekeeper.sidecar.wire.ProviderError;
import dev.ratekeeper.sidecar.wire.SseUsageTracker;
import dev.ratekeeper.sidecar.wire.Usage;
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
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Sends admitted requests upstream over pooled keep-alive connections (TLS for https) and streams
 * the answer back chunk by chunk with back-pressure, reading the provider's usage on the way.
 * Every admitted request is settled exactly once: at the end of the answer, on an upstream error,
 * or when the client goes away (then the upstream call is cancelled too).
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
  private final LimiterStore limiter;
  private final SidecarMetrics metrics;
  /** Outputs the provider reported, for models that reserve a percentile of them. */
  private final OutputHistory outputs = new OutputHistory();
  private final UpstreamObserver observer;
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
     * ({@link System#nanoTime()}) with the credential of {@code scope}; {@code headers} may show its
     * own quota nearly spent — for {@code quotaScope} (the model's on OpenAI, else the credential's).
     */
    void answered(CooldownScope scope, CooldownScope quotaScope, long sentNanos, MultiMap headers);
  }

  /** The cooldown scope of a call through {@code upstream} with the client's {@code headers}. */
  CooldownScope scopeOf(CompiledUpstream upstream, MultiMap headers) {
    return CooldownScope.of(upstream.name(), upstream.format(), providerKeys.containsKey(upstream.name()), headers);
  }

  public Forwarder(Vertx vertx, Map<String, String> urlOverrides, Map<String, String> providerKeys,
      long connectTimeoutMs, long responseTimeoutMs, LimiterStore limiter, SidecarMetrics metrics,
      UpstreamObserver observer) {
    this.client = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true).setTcpNoDelay(true)
            .setDecompressionSupported(false).setConnectTimeout((int) connectTimeoutMs),
        new PoolOptions().setHttp1MaxSize(256));
    this.urlOverrides = Map.copyOf(urlOverrides);
    this.providerKeys = Map.copyOf(providerKeys);
    this.connectTimeoutMs = connectTimeoutMs;
    this.responseTimeoutMs = responseTimeoutMs;
    this.limiter = limiter;
    this.metrics = metrics;
    this.observer = observer;
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

  /** What models lately produced, per tier (reservations of models with {@code reserveOutputPercentile}). */
  OutputHistory outputs() {
    return outputs;
  }

  /** Forwards an admitted metered call and settles its reservation when it is over. */
  void forwardMetered(HttpServerRequest req, AdmitRequest admitted, Route route, MeteredRequest request,
      Buffer originalBody, Caller caller, AdmissionPlan.Planned planned, Map<String, String> extraHeaders) {
    CompiledPolicy policy = admitted.policy();
    CompiledUpstream upstream = route.upstream();
    Buffer body = request.rewritten() ? Buffer.buffer(request.toBytes()) : originalBody;
    MultiMap headers = Headers.upstreamRequest(req.headers(), policy.identity(), upstream.format(),
        providerKeys.get(upstream.name()), true);
    Exchange exchange = new Exchange(req, admitted, route, request, caller, planned);
    metrics.inflight().incrementAndGet();
    req.response().closeHandler(v -> exchange.clientGone());
    client.request(options(req, target(upstream), request.forwardPath(route.upstreamPath())))
        .compose(creq -> {
          exchange.upstreamRequest = creq;
          creq.headers().addAll(headers);
          if (exchange.done.get()) {
            creq.reset();
            return Future.failedFuture("client gone");
          }
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

  /** Forwards a call that is not metered, streaming its body both ways. */
  void forwardUnmetered(HttpServerRequest req, CompiledPolicy policy, Route route, Map<String, String> extraHeaders) {
    CompiledUpstream upstream = route.upstream();
    MultiMap headers = Headers.upstreamRequest(req.headers(), policy.identity(), upstream.format(),
        providerKeys.get(upstream.name()), false);
    HttpServerResponse out = req.response();
    long sent = System.nanoTime();
    CooldownScope scope = scopeOf(upstream, req.headers());
    client.request(options(req, target(upstream), route.upstreamPath()))
        .compose(creq -> {
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
            observe(scope, null, null, resp, sent, () -> {
              out.setStatusCode(resp.statusCode()).setStatusMessage(resp.statusMessage());
              Headers.copyResponse(resp.headers(), out.headers(), false);
              extraHeaders.forEach(out::putHeader);
              if (out.headers().get("content-length") == null) {
                out.setChunked(true);
              }
              resp.pipeTo(out);
            }, body -> relayWhole(resp, out, body, extraHeaders));
          } catch (Throwable t) {
            Responses.error(out, upstream.format(), upstreamError(t, upstream));
          }
        })
        .onFailure(err -> {
          req.resume();
          Responses.error(out, upstream.format(), upstreamError(err, upstream));
        });
  }

  /**
   * Tells the observer how the upstream answered, then relays it. A provider throttle (429, 529) is
   * read whole (it is small) to see whether it names the model ({@link CooldownScope}), and relayed
   * with {@code relayThrottle} only once the cooldown is shared (or after {@link #SHARE_WAIT_MS}), so
   * a client that retries at once through another sidecar already meets the cooldown there.
   * {@code model}: the model a metered call asked for, else null; {@code format}: the call's format.
   */
  private void observe(CooldownScope scope, String model, dev.ratekeeper.policy.api.UpstreamFormat format,
      HttpClientResponse resp, long sentNanos, Runnable relay, java.util.function.Consumer<Buffer> relayThrottle) {
    if (resp.statusCode() == 429 || resp.statusCode() == 529) {
      resp.body().onComplete(read -> {
        Buffer body = read.succeeded() ? read.result() : Buffer.buffer();
        CooldownScope modelScope = scope.model(model);
        CooldownScope applies = modelScope != null && resp.statusCode() == 429
            && CooldownScope.namesModel(body.toString(java.nio.charset.StandardCharsets.UTF_8), model) ? modelScope : scope;
        observer.throttled(applies, resp.headers()).timeout(SHARE_WAIT_MS, TimeUnit.MILLISECONDS)
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
    boolean timeout = err.getClass().getName().contains("Timeout") || String.valueOf(err.getMessage()).contains("timeout");
    return timeout
        ? ProviderError.of(ProviderError.Kind.UPSTREAM_TIMEOUT, "upstream " + upstream.name() + " timed out")
        : ProviderError.of(ProviderError.Kind.UPSTREAM_FAILED, "upstream " + upstream.name() + " failed: "
            + err.getClass().getSimpleName());
  }

  /** One metered call in flight. */
  private final class Exchange {
    final HttpServerRequest req;
    final AdmitRequest admitted;
    final CompiledPolicy policy;
    final Route route;
    final MeteredRequest request;
    final Caller caller;
    final AdmissionPlan.Planned planned;
    final long started = System.nanoTime();
    final AtomicBoolean done = new AtomicBoolean();
    volatile HttpClientRequest upstreamRequest;
    SseUsageTracker tracker;
    ResponseTail tail;
    int status;

    Exchange(HttpServerRequest req, AdmitRequest admitted, Route route, MeteredRequest request, Caller caller,
        AdmissionPlan.Planned planned) {
      this.req = req;
      this.admitted = admitted;
      this.policy = admitted.policy();
      this.route = route;
      this.request = request;
      this.caller = caller;
      this.planned = planned;
    }

    void relay(HttpClientResponse resp, Map<String, String> extraHeaders) {
      if (done.get()) {
        return;
      }
      observe(scopeOf(route.upstream(), req.headers()), request.quotaName(), route.upstream().format(), resp, started,
          () -> relayNow(resp, extraHeaders), body -> {
            if (done.compareAndSet(false, true)) {
              status = resp.statusCode();
              relayWhole(resp, req.response(), body, extraHeaders);
              settle(Usage.NONE, null);
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
          settle(usageSoFar(), reported() ? null : EstimateReason.CUT_SHORT);
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
          out.end();
          Usage usage = finalUsage();
          boolean estimated = !reported() && !usage.equals(Usage.NONE);
          settle(usage, estimated ? EstimateReason.NO_USAGE : null);
          if (!estimated && status < 400 && !planned.settleAtReservation() && usage.output() < planned.outputCap()) {
            // what the model produced on its own: not cut short, not stopped by the caller's own cap
            outputs.record(planned.model(), caller.tier(), usage.output());
          }
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
        settle(usageSoFar(), reported() ? null : EstimateReason.CUT_SHORT);
      }
    }

    void upstreamFailed(Throwable err) {
      if (done.compareAndSet(false, true)) {
        Responses.error(req.response(), route.upstream().format(), upstreamError(err, route.upstream()));
        // nothing is charged, though the provider may bill a call that timed out after it was sent
        settle(Usage.NONE, EstimateReason.UPSTREAM_FAILED);
      }
    }

    /** Whether the provider's own usage figures were seen (in the stream or the JSON answer). */
    private boolean reported() {
      return tracker != null ? tracker.reportedUsage().isPresent() : tail != null && tail.usage().isPresent();
    }

    private Usage usageSoFar() {
      if (planned.settleAtReservation()) {
        return reservation();
      }
      if (tracker != null) {
        return tracker.usageSoFar(planned.inputEstimate());
      }
      return new Usage(planned.inputEstimate(), 0, 0, 0);
    }

    private Usage reservation() {
      return new Usage(planned.inputEstimate(), planned.outputCap(), 0, 0);
    }

    private Usage finalUsage() {
      if (planned.settleAtReservation()) {
        return status >= 400 ? Usage.NONE : reservation();
      }
      if (tracker != null) {
        return tracker.reportedUsage().orElseGet(() -> status >= 400 ? Usage.NONE : usageSoFar());
      }
      return tail.usage().orElseGet(() -> status >= 400 ? Usage.NONE
          : new Usage(planned.inputEstimate(), planned.outputCap(), 0, 0));
    }

    /**
     * Charges {@code usage}; {@code estimated} says why it is the sidecar's estimate rather than the
     * provider's figure (null: the provider's). A call with tokens but no price is counted too: its
     * spend is unknown.
     */
    private void settle(Usage usage, EstimateReason estimated) {
      metrics.inflight().decrementAndGet();
      metrics.upstreamTime(System.nanoTime() - started);
      String model = dev.ratekeeper.sidecar.metrics.MetricLabels.model(policy, request.model());
      String tier = caller.tier();
      boolean priced = planned.model() != null && planned.model().pricing() != null;
      long cost = priced ? usage.costMicros(planned.model().pricing()) : 0;
      EstimateReason reason = estimated != null ? estimated
          : !priced && usage.totalTokens() > 0 ? EstimateReason.UNPRICED : null;
      if (planned.settleAtReservation()) {
        // a batch: its usage comes later, in its results; it is charged what was reserved, at the batch price
        cost = usage.totalTokens() == 0 ? 0 : planned.costMicros();
        reason = usage.totalTokens() == 0 ? reason : EstimateReason.BATCH;
      }
      if (reason != null) {
        metrics.estimatedCharge(reason.label());
      }
      metrics.tokens(model, tier, "input", usage.input());
      metrics.tokens(model, tier, "output", usage.output());
      metrics.tokens(model, tier, "cache_read", usage.cacheRead());
      metrics.tokens(model, tier, "cache_write", usage.cacheWrite());
      metrics.spend(model, tier, cost);
      limiter.reconcile(new ReconcileRequest(admitted, usage.totalTokens(), cost, reason != null))
          .onFailure(err -> LOG.log(System.Logger.Level.WARNING, "reconcile of " + admitted.requestId() + " failed: " + err));
    }
  }

  /** Why a call is charged on the sidecar's estimate instead of the provider's usage figures. */
  enum EstimateReason {
    /** The answer ended without usage (a stream or JSON answer that carried none). */
    NO_USAGE("no_usage"),
    /** The client or the provider hung up before the usage came. */
    CUT_SHORT("cut_short"),
    /** Tokens were used on a model without pricing: the spend is unknown (charged as 0). */
    UNPRICED("unpriced"),
    /** The provider failed or timed out: charged nothing, though a call sent may still be billed. */
    UPSTREAM_FAILED("upstream_failed"),
    /** A message batch: charged its reservation at the batch price; its usage comes later, in its results. */
    BATCH("batch");

    private final String label;

    EstimateReason(String label) {
      this.label = label;
    }

    String label() {
      return label;
    }
  }
}
