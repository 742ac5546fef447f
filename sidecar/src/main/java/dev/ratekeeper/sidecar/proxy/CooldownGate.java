package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.upstream.CooldownScope;
import dev.ratekeeper.sidecar.upstream.UpstreamCooldowns;
import dev.ratekeeper.sidecar.wire.MeteredRequest;
import io.vertx.core.Future;
import io.vertx.core.http.HttpServerRequest;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The cooldown stage: a provider's 429 for the call's credential, or for its model, answers the
 * request with 429 {@code upstream.cooldown} before anything else is done ({@link UpstreamCooldowns};
 * half-open: one probe passes). In Shadow mode nothing is blocked; the value says whether a cooldown
 * would have.
 *
 * <p>A request that wins the half-open probe holds it until {@link #ended} is called for it, once its
 * exchange is over. If the request never reached the provider (refused by the limits or as
 * malformed, its client gone before it was sent, the provider unreachable), the probe is handed on at
 * once, so the next request probes. One that reached the provider keeps it: the provider's answer
 * closes the breaker or starts a new cooldown, and without an answer (its client gone, a time-out)
 * the provider may still be working on it, so the probe is left to expire.
 */
final class CooldownGate {
  private final Forwarder forwarder;
  private final UpstreamCooldowns cooldowns;
  /** Requests holding a probe: a handful at most (one per scope in half-open), so a map is enough. */
  private final Map<HttpServerRequest, UpstreamCooldowns.Probe> probes = new ConcurrentHashMap<>();

  CooldownGate(Forwarder forwarder, UpstreamCooldowns cooldowns) {
    this.forwarder = forwarder;
    this.cooldowns = cooldowns;
  }

  /** The cooldown of the call's credential ({@link CooldownScope}), before the body is read. */
  Future<Step<Boolean>> credential(HttpServerRequest req, CompiledPolicy current, Route route, Loop loop) {
    String scope = forwarder.scopeOf(route.upstream(), req.headers()).key();
    UpstreamCooldowns.Verdict cooldown = cooldowns.check(scope);
    if (cooldown instanceof UpstreamCooldowns.Open open && !current.shadow()) {
      return Future.succeededFuture(Step.stop(new Outcome.CoolingDown(RequestPipeline.unknownCall(route),
          open.remainingMs())));
    }
    if (cooldown instanceof UpstreamCooldowns.HalfOpen && !current.shadow()) {
      RequestPipeline.pause(req);
      return loop.on(cooldowns.tryProbe(scope)).transform(won -> {
        RequestPipeline.resume(req);
        if (won.succeeded() && won.result() != null) {
          probes.put(req, won.result());
          return Future.succeededFuture(Step.next(false));
        }
        return Future.succeededFuture(Step.stop(new Outcome.CoolingDown(RequestPipeline.unknownCall(route),
            UpstreamCooldowns.HALF_OPEN_RETRY_MS)));
      });
    }
    return Future.succeededFuture(Step.next(cooldown instanceof UpstreamCooldowns.Open));
  }

  /**
   * The cooldown of the call's model (or Azure deployment) once the body named it; {@code shadowed}:
   * whether the credential's cooldown would already have blocked it.
   */
  Step<Boolean> model(HttpServerRequest req, CompiledPolicy current, Route route, MeteredRequest request,
      boolean shadowed) {
    CooldownScope modelScope = forwarder.scopeOf(route.upstream(), req.headers()).model(request.quotaName());
    if (modelScope != null && cooldowns.check(modelScope.key()) instanceof UpstreamCooldowns.Open open) {
      if (!current.shadow()) {
        return Step.stop(new Outcome.CoolingDown(RequestPipeline.unknownCall(route), open.remainingMs()));
      }
      return Step.next(true);
    }
    return Step.next(shadowed);
  }

  /**
   * The exchange of {@code req} is over; {@code reachedProvider}: its call was sent to the provider.
   * A probe it holds is handed on only if not (see the class comment).
   */
  void ended(HttpServerRequest req, boolean reachedProvider) {
    if (probes.isEmpty()) {
      return;
    }
    UpstreamCooldowns.Probe probe = probes.remove(req);
    if (probe != null && !reachedProvider) {
      cooldowns.release(probe);
    }
  }
}
