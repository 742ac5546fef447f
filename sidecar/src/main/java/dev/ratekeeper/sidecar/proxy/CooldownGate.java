package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.upstream.CooldownScope;
import dev.ratekeeper.sidecar.upstream.UpstreamCooldowns;
import dev.ratekeeper.sidecar.wire.MeteredRequest;
import io.vertx.core.Future;
import io.vertx.core.http.HttpServerRequest;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Predicate;

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
  private final UpstreamCooldowns cooldowns;
  /** Whether the sidecar holds the provider key of an upstream (by name): then its calls share one scope. */
  private final Predicate<String> sidecarHoldsKey;
  /** Requests holding a probe: a handful at most (one per scope in half-open), so a map is enough. */
  private final Map<HttpServerRequest, UpstreamCooldowns.Probe> probes = new ConcurrentHashMap<>();

  CooldownGate(UpstreamCooldowns cooldowns, Predicate<String> sidecarHoldsKey) {
    this.cooldowns = cooldowns;
    this.sidecarHoldsKey = sidecarHoldsKey;
  }

  /**
   * A call the credential's cooldown lets through: {@code scope}, the call's credential scope (worked
   * out once per call: the forward stage reports the provider's answer for it); {@code shadowed},
   * whether the cooldown would have blocked it (Shadow mode).
   */
  record Cleared(CooldownScope scope, boolean shadowed) {}

  /** The cooldown of the call's credential ({@link CooldownScope}), before the body is read. */
  Future<Step<Cleared>> credential(HttpServerRequest req, CompiledPolicy current, Route route, Loop loop) {
    CooldownScope credential = CooldownScope.of(route.upstream().name(), route.upstream().format(),
        sidecarHoldsKey.test(route.upstream().name()), req.headers());
    String scope = credential.key();
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
          return Future.succeededFuture(Step.next(new Cleared(credential, false)));
        }
        return Future.succeededFuture(Step.stop(new Outcome.CoolingDown(RequestPipeline.unknownCall(route),
            UpstreamCooldowns.HALF_OPEN_RETRY_MS)));
      });
    }
    return Future.succeededFuture(Step.next(new Cleared(credential, cooldown instanceof UpstreamCooldowns.Open)));
  }

  /**
   * The cooldown of the call's model (or Azure deployment) once the body named it; its value: whether
   * a cooldown would have blocked the call (Shadow mode), the credential's ({@code cleared}) or the model's.
   */
  Step<Boolean> model(CompiledPolicy current, Route route, MeteredRequest request, Cleared cleared) {
    CooldownScope modelScope = cleared.scope().model(request.quotaName());
    if (modelScope != null && cooldowns.check(modelScope.key()) instanceof UpstreamCooldowns.Open open) {
      if (!current.shadow()) {
        return Step.stop(new Outcome.CoolingDown(RequestPipeline.unknownCall(route), open.remainingMs()));
      }
      return Step.next(true);
    }
    return Step.next(cleared.shadowed());
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
