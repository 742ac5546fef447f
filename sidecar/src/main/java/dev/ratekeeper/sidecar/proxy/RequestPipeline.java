package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.api.UnmeteredPaths;
import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledTier;
import dev.ratekeeper.policy.compile.CompiledUpstream;
import dev.ratekeeper.sidecar.gateway.GatewayGate;
import dev.ratekeeper.sidecar.identity.IdentityResolver;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.metrics.MetricLabels;
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
import io.vertx.core.http.HttpServerRequest;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * One request's way through the sidecar, as stages that each return a value ({@link Step}): the next
 * stage's input, or the {@link Outcome} that ends the request, which the {@link Responder} answers.
 * <ol>
 *   <li><b>gateway key</b> (gateway mode only): the end user's key checked ({@link GatewayGate} through
 *       {@link IdentityStage#gatewayKey}; 401, 429, 503) before anything else, on every path;</li>
 *   <li><b>route</b>: the path made canonical ({@link CanonicalPath}; 400), the sidecar's own
 *       {@link LimitsEndpoint} answered (never forwarded), the rest routed ({@link Route};
 *       404) and classified by the endpoint table: a wrong method 405, an unknown non-GET 403, a
 *       billed endpoint that cannot be metered 403 unless the policy allows it (then request rates
 *       only), a free endpoint follows {@code unmeteredPaths};</li>
 *   <li><b>cooldown gate</b>: a provider cooldown of the call's credential answers 429
 *       ({@link CooldownGate}; half-open: one probe passes);</li>
 *   <li><b>body and parse</b> (metered): read whole under {@link BodyReader}'s bounds, parsed and its
 *       input estimated once (off the event loop when large), then the model's own cooldown;</li>
 *   <li><b>identity</b>: the caller ({@link IdentityStage}; 401, 429, or the policy's
 *       {@code onStoreUnavailable});</li>
 *   <li><b>admission</b>: the reservation planned ({@link AdmissionPlan}) and admitted with fallback,
 *       clamp and queue ({@link Admission}); unmetered calls: request rates only;</li>
 *   <li><b>forward and settle</b>: the {@link Forwarder} streams the answer back (the provider's
 *       throttles and quotas go to the cooldowns for the scope the gate worked out) and tells the
 *       call's {@link Settlement}, its one owner, how the exchange ended and what the answer showed
 *       of its usage; the settlement decides and charges what was used.</li>
 * </ol>
 * Metered and unmetered calls, the gateway's key check and the limits endpoint share the identity
 * stage's refusals and the responder, so they answer and count alike. Any Throwable a stage throws
 * ends the request as {@link Outcome.Failed} (500), never a hang.
 * All stages of a request run on the event loop it arrived on ({@link Loop}).
 */
final class RequestPipeline {
  /** Bodies larger than this are parsed and estimated on a worker thread, not the event loop. */
  static final int OFF_LOOP_BYTES = 64 * 1024;

  private final Vertx vertx;
  private final Supplier<CompiledPolicy> policy;
  private final BodyReader bodies;
  private final LimitsEndpoint agentLimits;
  private final Forwarder forwarder;
  private final CooldownGate gate;
  private final IdentityStage identify;
  private final Admission.Deps admission;
  private final Responder responder;
  /** Gateway mode's key check before routing, or null ({@link #frontedBy}). */
  private volatile GatewayGate gateway;

  RequestPipeline(Vertx vertx, Supplier<CompiledPolicy> policy, IdentityResolver identity, BodyReader bodies,
      LimitsEndpoint agentLimits, Forwarder forwarder, UpstreamCooldowns cooldowns, Admission.Deps admission,
      Responder responder) {
    this.vertx = vertx;
    this.policy = policy;
    this.bodies = bodies;
    this.agentLimits = agentLimits;
    this.forwarder = forwarder;
    this.gate = new CooldownGate(cooldowns, forwarder::holdsKey);
    this.identify = new IdentityStage(identity);
    this.admission = admission;
    this.responder = responder;
  }

  /** Gateway mode: every request's end-user key is checked by {@code gate} first. Before the proxy listens. */
  void frontedBy(GatewayGate gate) {
    this.gateway = gate;
  }

  /** Runs a request through the stages and answers its outcome. On a proxy event loop. */
  void handle(HttpServerRequest req) {
    CompiledPolicy current = policy.get();
    Loop loop = Loop.current();
    GatewayGate keys = gateway;
    Outcome.Tags unknown = new Outcome.Tags(keys == null ? guessFormat(req.uri()) : formatOf(current, req.path()),
        "unknown", "unknown", "unknown");
    Future<Outcome> outcome;
    try {
      outcome = keys == null ? route(req, current, loop) : gated(req, current, keys, unknown, loop);
    } catch (Throwable t) {
      outcome = Future.succeededFuture(new Outcome.Failed(unknown, t));
    }
    outcome.onComplete(done -> {
      Outcome result = done.succeeded() ? done.result() : new Outcome.Failed(unknown, done.cause());
      if (!(result instanceof Outcome.Forwarded)) {
        gate.ended(req, false); // a forwarded call's exchange ends in the Forwarder
      }
      responder.answer(req, result);
    });
  }

  /** Gateway mode: the end user's key first ({@link IdentityStage#gatewayKey}), then the route. */
  private Future<Outcome> gated(HttpServerRequest req, CompiledPolicy current, GatewayGate keys, Outcome.Tags tags,
      Loop loop) {
    return then(loop, IdentityStage.gatewayKey(keys, req, current, tags, loop), tags, caller -> {
      // on the request's event loop, resuming only schedules the body's delivery: the stages'
      // handlers are in place before any of it arrives
      resume(req);
      return route(req, current, loop);
    });
  }

  private static UpstreamFormat guessFormat(String uri) {
    return uri != null && uri.contains("/messages") ? UpstreamFormat.ANTHROPIC : UpstreamFormat.OPENAI;
  }

  /**
   * The error shape for a path in gateway mode, before it is routed: the format of the upstream named
   * by its first segment, else {@link #guessFormat}'s.
   */
  static UpstreamFormat formatOf(CompiledPolicy policy, String path) {
    String p = path == null ? "" : path;
    int start = p.startsWith("/") ? 1 : 0;
    int end = p.indexOf('/', start);
    String first = end < 0 ? p.substring(start) : p.substring(start, end);
    for (CompiledUpstream upstream : policy.upstreams()) {
      if (upstream.name().equals(first)) {
        return upstream.format();
      }
    }
    return guessFormat(p);
  }

  /**
   * Goes on with {@code step}'s value in {@code next} (on the request's loop), or ends with its
   * outcome; a stage that throws ends as {@link Outcome.Failed} with {@code tags}.
   */
  private static <T> Future<Outcome> then(Loop loop, Future<Step<T>> step, Outcome.Tags tags,
      Function<T, Future<Outcome>> next) {
    return loop.on(step).transform(done -> {
      if (done.failed()) {
        return Future.succeededFuture(new Outcome.Failed(tags, done.cause()));
      }
      if (done.result() instanceof Step.Stop<T> stop) {
        return Future.succeededFuture(stop.outcome());
      }
      try {
        return next.apply(((Step.Next<T>) done.result()).value());
      } catch (Throwable t) {
        return Future.succeededFuture(new Outcome.Failed(tags, t));
      }
    });
  }

  private static Future<Outcome> end(Outcome outcome) {
    return Future.succeededFuture(outcome);
  }

  // --- route ----------------------------------------------------------------------------------------

  private Future<Outcome> route(HttpServerRequest req, CompiledPolicy current, Loop loop) {
    CanonicalPath.Result target = CanonicalPath.of(req.uri());
    if (target instanceof CanonicalPath.Refused refused) {
      return end(Outcome.refused(none(guessFormat(req.uri()), "unknown"), "refused",
          ProviderError.Kind.INVALID_REQUEST, "the request path cannot be made canonical: " + refused.reason(),
          Outcome.Connection.CLOSE_AFTER));
    }
    CanonicalPath.Canonical canonical = (CanonicalPath.Canonical) target;
    if (LimitsEndpoint.PATH.equals(canonical.path())) {
      return agentLimits.answer(req, current, loop); // the sidecar's own: never forwarded
    }
    Route route = Route.resolve(current, req.method().name(), canonical).orElse(null);
    if (route == null) {
      return end(Outcome.refused(none(guessFormat(canonical.path()), "unknown"), "invalid",
          ProviderError.Kind.NOT_FOUND, "no upstream for " + AdmissionPlan.quote(canonical.path())
              + ": use /<upstream>/... with one of " + current.upstreams().stream().map(u -> u.name()).toList(),
          Outcome.Connection.CLOSE_AFTER));
    }
    UpstreamFormat format = route.upstream().format();
    String upstream = route.upstream().name();
    Outcome.Tags tags = none(format, upstream);
    Outcome expectation = BodyReader.expectation(req, tags);
    if (expectation != null) {
      return end(expectation);
    }
    EndpointTable.Classification kind = route.classification();
    if (kind instanceof EndpointTable.WrongMethod wrong) {
      String allowed = String.join(", ", wrong.allowed());
      return end(new Outcome.Refused(tags, "refused", ProviderError.of(ProviderError.Kind.METHOD_NOT_ALLOWED,
          call(req, route) + ": method not allowed (allowed: " + allowed + ")"), Map.of("allow", allowed),
          Outcome.Connection.CLOSE_AFTER));
    }
    if (kind instanceof EndpointTable.Unknown unknown && !unknown.readOnly()) {
      return end(Outcome.refused(tags, "refused", ProviderError.Kind.FORBIDDEN, call(req, route) + " is not in Ratekeeper's"
          + " endpoint table, so it cannot be metered; refused (see docs/endpoints.md)", Outcome.Connection.CLOSE_AFTER));
    }
    if (kind instanceof EndpointTable.Unmeterable billed) {
      if (!current.allows(billed.group())) {
        return end(Outcome.refused(tags, "refused", ProviderError.Kind.FORBIDDEN, call(req, route) + " is billed but Ratekeeper"
            + " cannot meter it; refused (a policy may allow it with allowUnmeterable: [" + billed.group() + "])",
            Outcome.Connection.CLOSE_AFTER));
      }
      return then(loop, gate.credential(req, current, route, loop), tags,
          cleared -> requestsOnly(req, current, route, cleared.scope(), loop));
    }
    if (kind instanceof EndpointTable.Metered metered) {
      return then(loop, gate.credential(req, current, route, loop), tags,
          cleared -> metered(req, current, route, metered.endpoint(), cleared, loop));
    }
    return unmetered(req, current, route, loop);
  }

  /** The call as a refusal names it: {@code POST "/v1/x"}; made only for a refusal. */
  private static String call(HttpServerRequest req, Route route) {
    return req.method().name() + " " + AdmissionPlan.quote(route.path());
  }

  /** Tags of a call before its model and caller are known. */
  private static Outcome.Tags none(UpstreamFormat format, String upstream) {
    return new Outcome.Tags(format, upstream, "none", "none");
  }

  static Outcome.Tags unknownCall(Route route) {
    return new Outcome.Tags(route.upstream().format(), route.upstream().name(), "unknown", "unknown");
  }

  // --- metered: body, parse, identity, admission, forward -------------------------------------------

  private Future<Outcome> metered(HttpServerRequest req, CompiledPolicy current, Route route, Endpoint endpoint,
      CooldownGate.Cleared cleared, Loop loop) {
    Outcome.Tags tags = unknownCall(route);
    return then(loop, bodies.read(req, tags), tags, body -> then(loop, parse(route, endpoint, body, tags), tags,
        request -> identified(req, current, route, request, body, cleared, loop)));
  }

  /**
   * Parses and estimates the body, on a worker thread when it is large; its bytes count against
   * {@code --max-inflight-body} until then.
   */
  private Future<Step<MeteredRequest>> parse(Route route, Endpoint endpoint, BodyReader.Body body,
      Outcome.Tags tags) {
    Future<RequestParser.Result> parsed;
    try {
      Buffer bytes = body.bytes();
      parsed = bytes.length() > OFF_LOOP_BYTES
          ? vertx.executeBlocking(() -> parseAndEstimate(route, endpoint, bytes), false)
          : Future.succeededFuture(parseAndEstimate(route, endpoint, bytes));
    } catch (Throwable t) {
      parsed = Future.failedFuture(t);
    }
    return parsed.transform(done -> {
      body.release().run();
      if (done.failed()) {
        return Future.failedFuture(done.cause());
      }
      if (done.result() instanceof RequestParser.Invalid invalid) {
        return Future.succeededFuture(Step.stop(new Outcome.Refused(tags, "invalid", invalid.error(), Map.of(),
            Outcome.Connection.KEEP)));
      }
      return Future.succeededFuture(Step.next(((RequestParser.Parsed) done.result()).request()));
    });
  }

  /** Read from the body's buffer as the parser goes: the body is not copied whole. */
  private static RequestParser.Result parseAndEstimate(Route route, Endpoint endpoint, Buffer bytes) {
    RequestParser.Result result = RequestParser.parse(AzureDeployments.Target.of(route.upstream(), route.path()),
        endpoint, new BufferInput(bytes));
    if (result instanceof RequestParser.Parsed parsed) {
      parsed.request().estimateInput();
    }
    return result;
  }

  private Future<Outcome> identified(HttpServerRequest req, CompiledPolicy current, Route route,
      MeteredRequest request, BodyReader.Body body, CooldownGate.Cleared cleared, Loop loop) {
    Outcome.Tags tags = unknownCall(route);
    Step<Boolean> modelGate = gate.model(current, route, request, cleared);
    if (modelGate instanceof Step.Stop<Boolean> stop) {
      return end(stop.outcome());
    }
    boolean shadow = ((Step.Next<Boolean>) modelGate).value();
    Outcome.Tags modelTags = tags.withModel(MetricLabels.model(current, request.model()));
    return then(loop, identify.caller(req, current, modelTags, loop), modelTags, caller -> {
      Outcome.Tags callerTags = modelTags.withTier(caller.tier());
      AdmissionPlan.Result plan = AdmissionPlan.plan(current, caller, request.withStreamUsage());
      if (plan instanceof AdmissionPlan.Refused refused) {
        return end(new Outcome.Refused(callerTags, "invalid", refused.error(), Map.of(), Outcome.Connection.KEEP));
      }
      return then(loop, Admission.admit(admission, req, loop, current, route, caller, (AdmissionPlan.Planned) plan,
          shadow), callerTags, admitted -> forwardMetered(req, admitted, body, cleared.scope(), loop));
    });
  }

  private Future<Outcome> forwardMetered(HttpServerRequest req, Admission.Admitted admitted, BodyReader.Body body,
      CooldownScope scope, Loop loop) {
    RequestPlan plan = admitted.plan();
    Decision decision = admitted.decision();
    Map<String, String> headers = Responses.allowedHeaders(decision, plan.policy().warnAtPercent());
    headers.putAll(plan.rewrites());
    if (plan.shadowCooldown()) {
      headers.merge("x-ratekeeper-shadow-limited-by", "upstream.cooldown", (a, b) -> b + "," + a);
    }
    Settlement settlement = new Settlement(admission.limiter(), admission.metrics(), admission.outputs(),
        admission.clock(), admitted.ask(), plan);
    forwarder.forwardMetered(req, plan, body.bytes(), settlement, headers, responder, scope, loop,
        sent -> gate.ended(req, sent));
    return end(new Outcome.Forwarded(plan.tags(),
        decision.limitedBy().isEmpty() && !plan.shadowCooldown() ? "allowed" : "shadow_limited"));
  }

  // --- unmetered ------------------------------------------------------------------------------------

  /** A free endpoint, or an unknown GET: the policy's {@code unmeteredPaths}. */
  private Future<Outcome> unmetered(HttpServerRequest req, CompiledPolicy current, Route route, Loop loop) {
    Outcome.Tags tags = none(route.upstream().format(), route.upstream().name());
    UnmeteredPaths mode = current.unmeteredPaths();
    if (mode == UnmeteredPaths.Deny) {
      return end(Outcome.refused(tags, "refused", ProviderError.Kind.FORBIDDEN, call(req, route)
          + " is not allowed through Ratekeeper (unmeteredPaths: Deny)",
          Outcome.Connection.CLOSE_AFTER));
    }
    return then(loop, gate.credential(req, current, route, loop), tags, cleared -> {
      if (mode != UnmeteredPaths.PassThrough) {
        return requestsOnly(req, current, route, cleared.scope(), loop);
      }
      pause(req);
      BodyReader.continueIfExpected(req);
      forwarder.forwardUnmetered(req, current, route, Map.of(), tags, responder, cleared.scope(), loop,
          sent -> gate.ended(req, sent));
      return end(new Outcome.Forwarded(tags, "passthrough"));
    });
  }

  /** Request rates only: the caller's tier request rate and the global one; no tokens, budget or model. */
  private Future<Outcome> requestsOnly(HttpServerRequest req, CompiledPolicy current, Route route,
      CooldownScope scope, Loop loop) {
    Outcome.Tags tags = none(route.upstream().format(), route.upstream().name());
    return then(loop, identify.caller(req, current, tags, loop), tags, caller -> {
      Outcome.Tags callerTags = tags.withTier(caller.tier());
      CompiledTier tier = current.tier(caller.tier()).orElseThrow();
      AdmitRequest ask = AdmitRequest.requestsOnly(current, admission.requestIds().get(), caller.user(), tier);
      return loop.on(admission.limiter().admit(ask)).transform(decided -> {
        if (decided.failed()) {
          return end(Outcome.storeUnavailable(callerTags));
        }
        Decision verdict = decided.result();
        if (!verdict.allowed()) {
          return end(new Outcome.Denied(callerTags, verdict, Outcome.Connection.CLOSE_AFTER));
        }
        BodyReader.continueIfExpected(req);
        forwarder.forwardUnmetered(req, current, route, Responses.allowedHeaders(verdict, current.warnAtPercent()),
            callerTags, responder, scope, loop, sent -> gate.ended(req, sent));
        return end(new Outcome.Forwarded(callerTags, "allowed"));
      });
    });
  }

  /** Pauses the body's arrival, unless it has all arrived already. */
  static void pause(HttpServerRequest req) {
    if (!req.isEnded()) {
      req.pause();
    }
  }

  static void resume(HttpServerRequest req) {
    if (!req.isEnded()) {
      req.resume();
    }
  }
}
