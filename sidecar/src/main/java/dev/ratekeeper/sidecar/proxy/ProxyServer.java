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
import dev.ratekeeper.sidecar.metrics.SidecarMetrics;
import dev.ratekeeper.sidecar.upstream.UpstreamCooldowns;
import dev.ratekeeper.sidecar.wire.Endpoint;
import dev.ratekeeper.sidecar.wire.MeteredRequest;
import dev.ratekeeper.sidecar.wire.ProviderError;
import dev.ratekeeper.sidecar.wire.RequestParser;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * The proxy the agent's SDK talks to. Routes {@code /<upstream>/...} and the bare provider paths;
 * metered calls are read whole under {@code --max-body}, parsed once, admitted in one limiter call,
 * then forwarded by the {@link Forwarder}, which streams the answer back and settles the
 * reservation. Other paths follow the policy's {@code unmeteredPaths}.
 */
public final class ProxyServer {
  private static final System.Logger LOG = System.getLogger(ProxyServer.class.getName());

  private final Vertx vertx;
  private final Supplier<CompiledPolicy> policy;
  private final IdentityResolver identity;
  private final LimitsEndpoint limits;
  private final long maxBody;
  private final String requestIdPrefix;
  private final AtomicLong requestSeq = new AtomicLong();
  private final Deps deps;
  private final java.util.List<HttpServer> servers = new java.util.concurrent.CopyOnWriteArrayList<>();

  /** What an admission needs besides the request itself. */
  record Deps(LimiterStore limiter, SidecarMetrics metrics, Forwarder forwarder, AdmissionQueue queue,
      UpstreamCooldowns cooldowns) {}

  public ProxyServer(Vertx vertx, Supplier<CompiledPolicy> policy, LimiterStore limiter, IdentityResolver identity,
      SidecarMetrics metrics, Forwarder forwarder, UpstreamCooldowns cooldowns, long maxBody, String sidecarId) {
    this.vertx = vertx;
    this.policy = policy;
    this.identity = identity;
    this.maxBody = maxBody;
    this.deps = new Deps(limiter, metrics, forwarder, new AdmissionQueue(vertx), cooldowns);
    this.limits = new LimitsEndpoint(limiter, identity);
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
        vertx.createHttpServer(new HttpServerOptions().setHost(host).setPort(port).setTcpNoDelay(true)
                .setIdleTimeout(0).setDecompressionSupported(false))
            .requestHandler(this::handle)
            .listen().onComplete(listening));
    return listening.future().onSuccess(servers::add);
  }

  /** Stops every server instance. */
  public Future<Void> close() {
    return Future.all(servers.stream().map(HttpServer::close).toList()).mapEmpty();
  }

  void handle(HttpServerRequest req) {
    CompiledPolicy current = policy.get();
    if (LimitsEndpoint.PATH.equals(req.path())) {
      limits.handle(req, current); // the sidecar's own: never forwarded
      return;
    }
    Route route = Route.resolve(current, req.uri()).orElse(null);
    if (route == null) {
      UpstreamFormat guess = req.path().contains("/messages") ? UpstreamFormat.ANTHROPIC : UpstreamFormat.OPENAI;
      Responses.error(req.response(), guess, ProviderError.of(ProviderError.Kind.NOT_FOUND, "no upstream for "
          + req.path() + ": use /<upstream>/... with one of " + current.upstreams().stream()
          .map(u -> u.name()).toList()));
      return;
    }
    String upstream = route.upstream().name();
    UpstreamCooldowns.Verdict cooldown = deps.cooldowns().check(upstream);
    if (cooldown instanceof UpstreamCooldowns.Open open && !current.shadow()) {
      coolingDown(req, route, open.remainingMs());
    } else if (cooldown instanceof UpstreamCooldowns.HalfOpen && !current.shadow()) {
      req.pause();
      deps.cooldowns().tryProbe(upstream).onComplete(won -> {
        req.resume();
        if (won.succeeded() && won.result()) {
          proceed(req, current, route, false);
        } else {
          coolingDown(req, route, UpstreamCooldowns.HALF_OPEN_RETRY_MS);
        }
      });
    } else {
      proceed(req, current, route, cooldown instanceof UpstreamCooldowns.Open);
    }
  }

  private void coolingDown(HttpServerRequest req, Route route, long remainingMs) {
    deps.metrics().throttled("upstream.cooldown");
    deps.metrics().request(route.upstream().name(), "unknown", "unknown", "throttled");
    Responses.cooldown(req.response(), route.upstream().format(), route.upstream().name(), remainingMs);
  }

  /** {@code shadowCooldown}: in Shadow mode, the upstream's cooldown would have blocked this request. */
  private void proceed(HttpServerRequest req, CompiledPolicy current, Route route, boolean shadowCooldown) {
    if (route.endpoint().isPresent() && req.method() == HttpMethod.POST) {
      readBody(req, route, body -> metered(req, current, route, route.endpoint().get(), body, shadowCooldown));
    } else {
      unmetered(req, current, route);
    }
  }

  private void readBody(HttpServerRequest req, Route route, java.util.function.Consumer<Buffer> then) {
    UpstreamFormat format = route.upstream().format();
    String declared = req.getHeader("content-length");
    if (declared != null) {
      try {
        if (Long.parseLong(declared.trim()) > maxBody) {
          tooLarge(req, format);
          return;
        }
      } catch (NumberFormatException e) {
        Responses.error(req.response(), format, ProviderError.of(ProviderError.Kind.INVALID_REQUEST,
            "content-length is not a number"));
        return;
      }
    }
    Buffer body = Buffer.buffer();
    boolean[] over = {false};
    req.handler(chunk -> {
      if (over[0]) {
        return;
      }
      if ((long) body.length() + chunk.length() > maxBody) {
        over[0] = true;
        tooLarge(req, format);
      } else {
        body.appendBuffer(chunk);
      }
    });
    req.endHandler(v -> {
      if (!over[0]) {
        then.accept(body);
      }
    });
  }

  private void tooLarge(HttpServerRequest req, UpstreamFormat format) {
    req.response().putHeader("connection", "close");
    Responses.error(req.response(), format, ProviderError.of(ProviderError.Kind.TOO_LARGE,
        "request body exceeds the sidecar's limit of " + maxBody + " bytes (--max-body)"));
  }

  private void metered(HttpServerRequest req, CompiledPolicy current, Route route, Endpoint endpoint, Buffer body,
      boolean shadowCooldown) {
    UpstreamFormat format = route.upstream().format();
    HttpServerResponse resp = req.response();
    RequestParser.Result parsed = RequestParser.parse(endpoint, body.getBytes());
    if (parsed instanceof RequestParser.Invalid invalid) {
      deps.metrics().request(route.upstream().name(), "unknown", "unknown", "invalid");
      Responses.error(resp, format, invalid.error());
      return;
    }
    MeteredRequest request = ((RequestParser.Parsed) parsed).request();
    identity.resolve(current, req.headers()).onComplete(who -> {
      if (who.failed()) {
        deps.metrics().request(route.upstream().name(), request.model(), "unknown", "unauthorized");
        Responses.unauthorized(resp, format, who.cause().getMessage());
        return;
      }
      Caller caller = who.result();
      AdmissionPlan.Result plan = AdmissionPlan.plan(current, caller, request);
      if (plan instanceof AdmissionPlan.Refused refused) {
        deps.metrics().request(route.upstream().name(), request.model(), caller.tier(), "invalid");
        Responses.error(resp, format, refused.error());
        return;
      }
      AdmissionPlan.Planned planned = (AdmissionPlan.Planned) plan;
      request.requestStreamUsage();
      new MeteredAdmission(deps, req, current, route, request, body, caller, planned, this::nextRequestId,
          shadowCooldown).start();
    });
  }

  /** Answers a denial (429, or 400 when it could never pass) and counts it. */
  static void deny(SidecarMetrics metrics, HttpServerResponse resp, UpstreamFormat format, Route route, String model,
      String tier, Decision verdict) {
    verdict.limitedBy().forEach(d -> metrics.throttled(d.wireName()));
    metrics.request(route.upstream().name(), model, tier, verdict.neverPassable() ? "invalid" : "throttled");
    Responses.denied(resp, format, verdict);
  }

  private void unmetered(HttpServerRequest req, CompiledPolicy current, Route route) {
    UpstreamFormat format = route.upstream().format();
    UnmeteredPaths mode = current.unmeteredPaths();
    if (mode == UnmeteredPaths.Deny) {
      Responses.error(req.response(), format, ProviderError.of(ProviderError.Kind.FORBIDDEN,
          req.method() + " " + route.upstreamPath() + " is not allowed through Ratekeeper (unmeteredPaths: Deny)"));
      return;
    }
    req.pause();
    if (mode == UnmeteredPaths.PassThrough) {
      deps.metrics().request(route.upstream().name(), "none", "none", "passthrough");
      deps.forwarder().forwardUnmetered(req, current, route, Map.of());
      return;
    }
    identity.resolve(current, req.headers()).onComplete(who -> {
      if (who.failed()) {
        req.resume();
        Responses.unauthorized(req.response(), format, who.cause().getMessage());
        return;
      }
      Caller caller = who.result();
      CompiledTier tier = current.tier(caller.tier()).orElseThrow();
      String requestId = nextRequestId();
      deps.limiter().admit(AdmitRequest.requestsOnly(current, requestId, caller.user(), tier)).onComplete(decided -> {
        if (decided.failed()) {
          req.resume();
          Responses.error(req.response(), format, ProviderError.of(ProviderError.Kind.STORE_UNAVAILABLE,
              "rate-limit store unavailable; try again shortly"));
          return;
        }
        Decision verdict = decided.result();
        if (!verdict.allowed()) {
          req.resume();
          deny(deps.metrics(), req.response(), format, route, "none", caller.tier(), verdict);
          return;
        }
        deps.metrics().request(route.upstream().name(), "none", caller.tier(), "allowed");
        deps.forwarder().forwardUnmetered(req, current, route, Responses.allowedHeaders(verdict, current.warnAtPercent()));
      });
    });
  }

  /** Unique across sidecars and restarts: sidecar id, a per-start nonce, a sequence number. */
  private String nextRequestId() {
    return requestIdPrefix + Long.toString(requestSeq.incrementAndGet(), 36);
  }
}
