package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.api.UnmeteredPaths;
import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledTier;
import dev.ratekeeper.sidecar.identity.Caller;
import dev.ratekeeper.sidecar.identity.IdentityResolver;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import dev.ratekeeper.sidecar.metrics.MetricLabels;
import dev.ratekeeper.sidecar.metrics.SidecarMetrics;
import dev.ratekeeper.sidecar.upstream.CooldownScope;
import dev.ratekeeper.sidecar.upstream.UpstreamCooldowns;
import dev.ratekeeper.sidecar.wire.AzureDeployments;
import dev.ratekeeper.sidecar.wire.Endpoint;
import dev.ratekeeper.sidecar.wire.EndpointTable;
import dev.ratekeeper.sidecar.wire.MeteredRequest;
import dev.ratekeeper.sidecar.wire.ProviderError;
import dev.ratekeeper.sidecar.wire.RequestParser;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The proxy the agent's SDK talks to. Each request passes these stages, each ending in a value the
 * next one reads or an answer:
 * <ol>
 *   <li>the path is made canonical ({@link CanonicalPath}; 400 when it cannot be) and routed
 *       ({@link Route}; 404 when no upstream serves it);</li>
 *   <li>the endpoint table ({@link EndpointTable}) classifies it: a wrong method is a 405, an unknown
 *       non-GET a 403, a billed endpoint that cannot be metered a 403 unless the policy allows it
 *       (then request rates only), a free endpoint follows {@code unmeteredPaths};</li>
 *   <li>metered calls: the body is read whole under {@link BodyReader}'s bounds, parsed and its input
 *       estimated once (off the event loop when large), the caller identified, the reservation planned
 *       and admitted ({@link MeteredAdmission}), then forwarded by the {@link Forwarder}, which
 *       streams the answer back and settles the reservation.</li>
 * </ol>
 * Every stage runs guarded: any Throwable becomes a 500 in the provider's shape, never a hang.
 */
public final class ProxyServer {
  private static final System.Logger LOG = System.getLogger(ProxyServer.class.getName());
  /** Bodies larger than this are parsed and estimated on a worker thread, not the event loop. */
  static final int OFF_LOOP_BYTES = 64 * 1024;

  private final Vertx vertx;
  private final Supplier<CompiledPolicy> policy;
  private final IdentityResolver identity;
  private final Limits limits;
  private final BodyReader bodies;
  /** GET /ratekeeper/v1/limits: the sidecar's own, never forwarded. */
  private final LimitsEndpoint agentLimits;
  private final String requestIdPrefix;
  private final AtomicLong requestSeq = new AtomicLong();
  private final Deps deps;
  /** Connections that have not yet sent a whole request head, with their deadline's timer. */
  private final java.util.Map<HttpConnection, Long> awaitingHeaders = new java.util.concurrent.ConcurrentHashMap<>();
  private final java.util.List<HttpServer> servers = new java.util.concurrent.CopyOnWriteArrayList<>();

  /** What an admission needs besides the request itself. */
  record Deps(LimiterStore limiter, SidecarMetrics metrics, Forwarder forwarder, AdmissionQueue queue,
      UpstreamCooldowns cooldowns) {}

  /**
   * The proxy port's bounds: one body's size, the bodies held at once, the time a new connection may
   * take to send its first request's headers (whose size Vert.x bounds to 8 KiB), the time a metered
   * body may take to arrive, and how long a connection may pass no bytes either way (longer than the
   * upstream timeout, so slow answers are not cut).
   */
  public record Limits(long maxBody, long maxInflightBody, long headerTimeoutMs, long bodyTimeoutMs,
      long idleTimeoutMs) {}

  public ProxyServer(Vertx vertx, Supplier<CompiledPolicy> policy, LimiterStore limiter, IdentityResolver identity,
      SidecarMetrics metrics, Forwarder forwarder, UpstreamCooldowns cooldowns, Limits limits, String sidecarId) {
    this.vertx = vertx;
    this.policy = policy;
    this.identity = identity;
    this.limits = limits;
    this.bodies = new BodyReader(vertx, limits.maxBody(), limits.maxInflightBody(), limits.bodyTimeoutMs());
    this.deps = new Deps(limiter, metrics, forwarder, new AdmissionQueue(vertx), cooldowns);
    this.agentLimits = new LimitsEndpoint(limiter, identity);
    this.requestIdPrefix = sidecarId + "-" + Long.toString(new java.security.SecureRandom().nextLong() & Long.MAX_VALUE, 36) + "-";
  }

  /**
   * Listens with one server per core on the same port, each on its own event loop, so Vert.x spreads
   * connections over the cores (Vert.x shares a port among servers of one instance that listen on
   * the same host and port). Port 0: a free port is picked first, then shared. Completes with the
   * first server (its {@code actualPort()} is the proxy's port).
   */
  public Future<HttpServer> listen(String host, int port) {
    int instances = Math.max(1, Runtime.getRuntime().availableProcessors());
    int shared;
    try {
      shared = port == 0 ? freePort(host) : port;
    } catch (java.io.IOException e) {
      return Future.failedFuture(e);
    }
    return listenOnNewLoop(host, shared).compose(first -> {
      Future<HttpServer> all = Future.succeededFuture(first);
      for (int i = 1; i < instances; i++) {
        all = all.compose(v -> listenOnNewLoop(host, shared).map(first));
      }
      return all;
    });
  }

  private static int freePort(String host) throws java.io.IOException {
    try (java.net.ServerSocket socket = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName(host))) {
      return socket.getLocalPort();
    }
  }

  private Future<HttpServer> listenOnNewLoop(String host, int port) {
    io.vertx.core.Promise<HttpServer> listening = io.vertx.core.Promise.promise();
    ((io.vertx.core.internal.VertxInternal) vertx).createEventLoopContext().runOnContext(v ->
        // HTTP/1.1 only: with cleartext HTTP/2 on, Vert.x makes the connection (and calls the
        // connection handler that starts the header deadline) only once it has seen a whole request head
        vertx.createHttpServer(new HttpServerOptions().setHost(host).setPort(port).setTcpNoDelay(true)
                .setIdleTimeout((int) limits.idleTimeoutMs()).setIdleTimeoutUnit(TimeUnit.MILLISECONDS)
                .setDecompressionSupported(false).setHttp2ClearTextEnabled(false))
            .connectionHandler(this::headerDeadline)
            .requestHandler(this::handle)
            .listen().onComplete(listening));
    return listening.future().onSuccess(servers::add);
  }

  /** A new connection must send its first request's head within {@code headerTimeoutMs}, or is closed. */
  private void headerDeadline(HttpConnection connection) {
    long timer = vertx.setTimer(limits.headerTimeoutMs(), id -> {
      if (awaitingHeaders.remove(connection) != null) {
        connection.close();
      }
    });
    awaitingHeaders.put(connection, timer);
    connection.closeHandler(v -> {
      Long pending = awaitingHeaders.remove(connection);
      if (pending != null) {
        vertx.cancelTimer(pending);
      }
    });
  }

  /** Stops every server instance. */
  public Future<Void> close() {
    return Future.all(servers.stream().map(HttpServer::close).toList()).mapEmpty();
  }

  /** Bytes of request bodies this sidecar holds right now. */
  public long inflightBodyBytes() {
    return bodies.inflightBytes();
  }

  void handle(HttpServerRequest req) {
    Long deadline = awaitingHeaders.remove(req.connection());
    if (deadline != null) {
      vertx.cancelTimer(deadline);
    }
    CompiledPolicy current = policy.get();
    guarded(req, guessFormat(req.uri()), () -> route(req, current));
  }

  private static UpstreamFormat guessFormat(String uri) {
    return uri != null && uri.contains("/messages") ? UpstreamFormat.ANTHROPIC : UpstreamFormat.OPENAI;
  }

  private void route(HttpServerRequest req, CompiledPolicy current) {
    CanonicalPath.Result target = CanonicalPath.of(req.uri());
    if (target instanceof CanonicalPath.Refused refused) {
      refuse(req, guessFormat(req.uri()), "unknown", ProviderError.Kind.INVALID_REQUEST,
          "the request path cannot be made canonical: " + refused.reason());
      return;
    }
    CanonicalPath.Canonical canonical = (CanonicalPath.Canonical) target;
    if (LimitsEndpoint.PATH.equals(canonical.path())) {
      agentLimits.handle(req, current); // the sidecar's own: never forwarded
      return;
    }
    Route route = Route.resolve(current, req.method().name(), canonical).orElse(null);
    if (route == null) {
      refuse(req, guessFormat(canonical.path()), "unknown", ProviderError.Kind.NOT_FOUND, "no upstream for "
          + AdmissionPlan.quote(canonical.path()) + ": use /<upstream>/... with one of "
          + current.upstreams().stream().map(u -> u.name()).toList());
      return;
    }
    UpstreamFormat format = route.upstream().format();
    if (!BodyReader.expectation(req, format)) {
      return;
    }
    String call = req.method().name() + " " + AdmissionPlan.quote(route.path());
    EndpointTable.Classification kind = route.classification();
    String upstream = route.upstream().name();
    if (kind instanceof EndpointTable.WrongMethod wrong) {
      req.response().putHeader("allow", String.join(", ", wrong.allowed()));
      refuse(req, format, upstream, ProviderError.Kind.METHOD_NOT_ALLOWED,
          call + ": method not allowed (allowed: " + String.join(", ", wrong.allowed()) + ")");
    } else if (kind instanceof EndpointTable.Unknown unknown && !unknown.readOnly()) {
      refuse(req, format, upstream, ProviderError.Kind.FORBIDDEN, call + " is not in Ratekeeper's endpoint table,"
          + " so it cannot be metered; refused (see docs/endpoints.md)");
    } else if (kind instanceof EndpointTable.Unmeterable billed) {
      if (current.allows(billed.group())) {
        gated(req, current, route, shadow -> requestsOnly(req, current, route));
      } else {
        refuse(req, format, upstream, ProviderError.Kind.FORBIDDEN, call + " is billed but Ratekeeper cannot meter"
            + " it; refused (a policy may allow it with allowUnmeterable: [" + billed.group() + "])");
      }
    } else if (kind instanceof EndpointTable.Metered metered) {
      gated(req, current, route, shadow -> bodies.read(req, format, (body, release) -> guarded(req, format, () ->
          prepare(req, current, route, metered.endpoint(), body, release, shadow))));
    } else {
      unmetered(req, current, route);
    }
  }

  /** Answers a refusal decided before the body was read; the connection closes after it. */
  private void refuse(HttpServerRequest req, UpstreamFormat format, String upstream, ProviderError.Kind kind,
      String message) {
    deps.metrics().request(upstream, "none", "none", kind == ProviderError.Kind.NOT_FOUND ? "invalid" : "refused");
    BodyReader.closeAfter(req);
    Responses.error(req.response(), format, ProviderError.of(kind, message));
  }

  /**
   * Runs {@code then} unless a cooldown of the call's credential ({@link CooldownScope}) answers the
   * request first; {@code then} learns whether, in Shadow mode, the cooldown would have blocked.
   */
  private void gated(HttpServerRequest req, CompiledPolicy current, Route route, Consumer<Boolean> then) {
    String upstream = deps.forwarder().scopeOf(route.upstream(), req.headers()).key();
    UpstreamCooldowns.Verdict cooldown = deps.cooldowns().check(upstream);
    if (cooldown instanceof UpstreamCooldowns.Open open && !current.shadow()) {
      coolingDown(req, route, open.remainingMs());
    } else if (cooldown instanceof UpstreamCooldowns.HalfOpen && !current.shadow()) {
      pause(req);
      deps.cooldowns().tryProbe(upstream).onComplete(won -> guarded(req, route.upstream().format(), () -> {
        resume(req);
        if (won.succeeded() && won.result()) {
          then.accept(false);
        } else {
          coolingDown(req, route, UpstreamCooldowns.HALF_OPEN_RETRY_MS);
        }
      }));
    } else {
      then.accept(cooldown instanceof UpstreamCooldowns.Open);
    }
  }

  private void coolingDown(HttpServerRequest req, Route route, long remainingMs) {
    deps.metrics().throttled("upstream.cooldown");
    deps.metrics().request(route.upstream().name(), "unknown", "unknown", "throttled");
    Responses.cooldown(req.response(), route.upstream().format(), route.upstream().name(), remainingMs);
  }

  /**
   * Parses and estimates the body, on a worker thread when it is large; its bytes count against
   * {@code --max-inflight-body} until then ({@code release}).
   */
  private void prepare(HttpServerRequest req, CompiledPolicy current, Route route, Endpoint endpoint, Buffer body,
      Runnable release, boolean shadowCooldown) {
    UpstreamFormat format = route.upstream().format();
    Future<RequestParser.Result> parsed;
    try {
      byte[] bytes = body.getBytes();
      parsed = bytes.length > OFF_LOOP_BYTES
          ? vertx.executeBlocking(() -> parseAndEstimate(route, endpoint, bytes), false)
          : Future.succeededFuture(parseAndEstimate(route, endpoint, bytes));
    } catch (Throwable t) {
      parsed = Future.failedFuture(t);
    }
    parsed.onComplete(done -> guarded(req, format, () -> {
      release.run();
      if (done.failed()) {
        failed(req, format, done.cause());
      } else if (done.result() instanceof RequestParser.Invalid invalid) {
        deps.metrics().request(route.upstream().name(), "unknown", "unknown", "invalid");
        Responses.error(req.response(), format, invalid.error());
      } else {
        metered(req, current, route, ((RequestParser.Parsed) done.result()).request(), body, shadowCooldown);
      }
    }));
  }

  private static RequestParser.Result parseAndEstimate(Route route, Endpoint endpoint, byte[] bytes) {
    RequestParser.Result result = RequestParser.parse(AzureDeployments.Target.of(route.upstream(), route.path()),
        endpoint, bytes);
    if (result instanceof RequestParser.Parsed parsed) {
      parsed.request().estimateInput();
    }
    return result;
  }

  private void metered(HttpServerRequest req, CompiledPolicy current, Route route, MeteredRequest request, Buffer body,
      boolean shadowCooldown) {
    UpstreamFormat format = route.upstream().format();
    String label = MetricLabels.model(current, request.model());
    CooldownScope modelScope = deps.forwarder().scopeOf(route.upstream(), req.headers()).model(request.quotaName());
    if (modelScope != null && deps.cooldowns().check(modelScope.key()) instanceof UpstreamCooldowns.Open open) {
      if (!current.shadow()) {
        coolingDown(req, route, open.remainingMs());
        return;
      }
      shadowCooldown = true;
    }
    boolean shadowed = shadowCooldown;
    identify(req, current, route, label, caller -> {
      AdmissionPlan.Result plan = AdmissionPlan.plan(current, caller, request);
      if (plan instanceof AdmissionPlan.Refused refused) {
        deps.metrics().request(route.upstream().name(), label, caller.tier(), "invalid");
        Responses.error(req.response(), format, refused.error());
        return;
      }
      request.requestStreamUsage();
      new MeteredAdmission(deps, req, current, route, request, body, caller, (AdmissionPlan.Planned) plan,
          this::nextRequestId, shadowed).start();
    });
  }

  /**
   * Identifies the caller and runs {@code then} with it, or answers: 401 for an unknown or missing
   * required key, 429 while unknown keys are rate limited, and — when the key could not be looked up
   * because the store is away — the policy's {@code onStoreUnavailable}: FailClosed answers 503;
   * FailOpen and LocalFallback go on as the anonymous user of the default tier (whose limits the
   * degraded store then applies, in memory under LocalFallback).
   */
  private void identify(HttpServerRequest req, CompiledPolicy current, Route route, String label,
      Consumer<Caller> then) {
    UpstreamFormat format = route.upstream().format();
    pause(req); // the body stays unread until the request is forwarded or refused
    identity.resolve(current, req.headers()).onComplete(who -> guarded(req, format, () -> {
      if (who.failed()) {
        failed(req, format, who.cause());
        return;
      }
      IdentityResolver.Resolution resolution = who.result();
      if (resolution instanceof IdentityResolver.Resolved resolved) {
        then.accept(resolved.caller());
        return;
      }
      IdentityResolver.Refused refused = (IdentityResolver.Refused) resolution;
      if (refused.reason() == IdentityResolver.Reason.STORE_UNAVAILABLE
          && current.onStoreUnavailable() != dev.ratekeeper.policy.api.StoreFailureMode.FailClosed) {
        then.accept(IdentityResolver.unverified(current));
        return;
      }
      resume(req);
      BodyReader.closeAfter(req);
      switch (refused.reason()) {
        case UNKNOWN_KEY, KEY_REQUIRED -> {
          deps.metrics().request(route.upstream().name(), label, "unknown", "unauthorized");
          Responses.unauthorized(req.response(), format, refused.message());
        }
        case TOO_MANY_UNKNOWN_KEYS -> {
          deps.metrics().request(route.upstream().name(), label, "unknown", "unauthorized");
          Responses.retryLater(req.response(), format, refused.retryAfterMs(), refused.message());
        }
        default -> {
          deps.metrics().request(route.upstream().name(), label, "unknown", "error");
          Responses.error(req.response(), format, ProviderError.of(ProviderError.Kind.STORE_UNAVAILABLE,
              refused.message() + "; try again shortly (onStoreUnavailable: FailClosed)"));
        }
      }
    }));
  }

  /** Answers a denial (429, or 400 when it could never pass) and counts it. */
  static void deny(SidecarMetrics metrics, HttpServerResponse resp, UpstreamFormat format, Route route, String model,
      String tier, Decision verdict) {
    verdict.limitedBy().forEach(d -> metrics.throttled(d.wireName()));
    metrics.request(route.upstream().name(), model, tier, verdict.neverPassable() ? "invalid" : "throttled");
    Responses.denied(resp, format, verdict);
  }

  /** A free endpoint, or an unknown GET: the policy's {@code unmeteredPaths}. */
  private void unmetered(HttpServerRequest req, CompiledPolicy current, Route route) {
    UpstreamFormat format = route.upstream().format();
    UnmeteredPaths mode = current.unmeteredPaths();
    if (mode == UnmeteredPaths.Deny) {
      refuse(req, format, route.upstream().name(), ProviderError.Kind.FORBIDDEN, req.method() + " "
          + AdmissionPlan.quote(route.path()) + " is not allowed through Ratekeeper (unmeteredPaths: Deny)");
      return;
    }
    gated(req, current, route, shadow -> {
      if (mode == UnmeteredPaths.PassThrough) {
        pause(req);
        deps.metrics().request(route.upstream().name(), "none", "none", "passthrough");
        BodyReader.continueIfExpected(req);
        deps.forwarder().forwardUnmetered(req, current, route, Map.of());
      } else {
        requestsOnly(req, current, route);
      }
    });
  }

  /** Request rates only: the caller's tier request rate and the global one; no tokens, budget or model. */
  private void requestsOnly(HttpServerRequest req, CompiledPolicy current, Route route) {
    UpstreamFormat format = route.upstream().format();
    identify(req, current, route, "none", caller -> {
      CompiledTier tier = current.tier(caller.tier()).orElseThrow();
      String requestId = nextRequestId();
      deps.limiter().admit(AdmitRequest.requestsOnly(current, requestId, caller.user(), tier))
          .onComplete(decided -> guarded(req, format, () -> {
            if (decided.failed()) {
              resume(req);
              deps.metrics().request(route.upstream().name(), "none", caller.tier(), "error");
              Responses.error(req.response(), format, ProviderError.of(ProviderError.Kind.STORE_UNAVAILABLE,
                  "rate-limit store unavailable; try again shortly"));
              return;
            }
            Decision verdict = decided.result();
            if (!verdict.allowed()) {
              resume(req);
              BodyReader.closeAfter(req);
              deny(deps.metrics(), req.response(), format, route, "none", caller.tier(), verdict);
              return;
            }
            deps.metrics().request(route.upstream().name(), "none", caller.tier(), "allowed");
            BodyReader.continueIfExpected(req);
            deps.forwarder().forwardUnmetered(req, current, route,
                Responses.allowedHeaders(verdict, current.warnAtPercent()));
          }));
    });
  }

  /** Pauses the body's arrival, unless it has all arrived already. */
  private static void pause(HttpServerRequest req) {
    if (!req.isEnded()) {
      req.pause();
    }
  }

  private static void resume(HttpServerRequest req) {
    if (!req.isEnded()) {
      req.resume();
    }
  }

  /** Runs a stage; any Throwable it throws is answered with a 500 in the provider's shape. */
  private void guarded(HttpServerRequest req, UpstreamFormat format, Runnable stage) {
    try {
      stage.run();
    } catch (Throwable t) {
      failed(req, format, t);
    }
  }

  private void failed(HttpServerRequest req, UpstreamFormat format, Throwable t) {
    LOG.log(System.Logger.Level.WARNING, "request " + req.method() + " failed in the sidecar", t);
    try {
      resume(req);
      deps.metrics().request("unknown", "unknown", "unknown", "error");
      BodyReader.closeAfter(req);
      Responses.error(req.response(), format, ProviderError.of(ProviderError.Kind.INTERNAL,
          "Ratekeeper could not process the request (" + t.getClass().getSimpleName() + ")"));
    } catch (Throwable again) {
      req.connection().close();
    }
  }

  /** Unique across sidecars and restarts: sidecar id, a per-start nonce, a sequence number. */
  private String nextRequestId() {
    return requestIdPrefix + Long.toString(requestSeq.incrementAndGet(), 36);
  }
}
