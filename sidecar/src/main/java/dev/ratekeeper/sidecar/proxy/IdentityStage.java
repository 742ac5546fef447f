package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.api.StoreFailureMode;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.gateway.GatewayGate;
import dev.ratekeeper.sidecar.identity.Caller;
import dev.ratekeeper.sidecar.identity.IdentityResolver;
import dev.ratekeeper.sidecar.wire.ProviderError;
import io.vertx.core.Future;
import io.vertx.core.http.HttpServerRequest;

/**
 * The identity stage, for metered and unmetered calls, the limits endpoint and the gateway's key
 * check alike: the caller ({@link IdentityResolver}), or the refusal ({@link #refusal}, the one
 * mapping of a resolver's refusal to an answer) — 401 for an unknown or missing required key, 429
 * while unknown keys are rate limited, and, when the key could not be looked up because the store is
 * away, the policy's {@code onStoreUnavailable}: FailClosed answers 503; FailOpen and LocalFallback
 * go on as the anonymous user of the default tier (whose limits the degraded store then applies).
 * In gateway mode the key's check is never passed over: one that cannot be checked is a 503.
 */
final class IdentityStage {
  private final IdentityResolver identity;

  IdentityStage(IdentityResolver identity) {
    this.identity = identity;
  }

  Future<Step<Caller>> caller(HttpServerRequest req, CompiledPolicy current, Outcome.Tags tags, Loop loop) {
    RequestPipeline.pause(req); // the body stays unread until the request is forwarded or refused
    return loop.on(identity.resolve(current, req.headers())).map(resolution -> {
      if (resolution instanceof IdentityResolver.Resolved resolved) {
        return Step.next(resolved.caller());
      }
      IdentityResolver.Refused refused = (IdentityResolver.Refused) resolution;
      if (refused.reason() == IdentityResolver.Reason.STORE_UNAVAILABLE
          && current.onStoreUnavailable() != StoreFailureMode.FailClosed) {
        return Step.next(IdentityResolver.unverified(current));
      }
      return Step.stop(refusal(current, refused, tags));
    });
  }

  /**
   * Gateway mode, before routing: the end user's key checked by {@code gate}; on success the request
   * goes on named by the key's user (its body still paused), else the refusal.
   */
  static Future<Step<Caller>> gatewayKey(GatewayGate gate, HttpServerRequest req, CompiledPolicy current,
      Outcome.Tags tags, Loop loop) {
    RequestPipeline.pause(req); // the body waits until the request is let in or refused
    return loop.on(gate.check(current, req)).map(resolution -> {
      if (resolution instanceof IdentityResolver.Resolved resolved) {
        gate.admitAs(current, req, resolved.caller());
        return Step.next(resolved.caller());
      }
      return Step.stop(refusal(current, (IdentityResolver.Refused) resolution, tags));
    });
  }

  /**
   * The answer to a caller that cannot be named, counted as {@code unauthorized} (401, 429) or
   * {@code error} (503). The request's body was not read: its connection closes after the answer.
   */
  static Outcome.Refused refusal(CompiledPolicy current, IdentityResolver.Refused refused, Outcome.Tags tags) {
    Outcome.Tags unknownTier = tags.withTier("unknown");
    return switch (refused.reason()) {
      case UNKNOWN_KEY, KEY_REQUIRED -> Outcome.refused(unknownTier, "unauthorized",
          ProviderError.Kind.UNAUTHORIZED, refused.message(), Outcome.Connection.CLOSE_AFTER);
      case TOO_MANY_UNKNOWN_KEYS -> Outcome.retryLater(unknownTier, "unauthorized", refused.retryAfterMs(),
          refused.message(), Outcome.Connection.CLOSE_AFTER);
      case STORE_UNAVAILABLE -> Outcome.storeUnavailable(unknownTier, refused.message()
          + (current.onStoreUnavailable() == StoreFailureMode.FailClosed ? " (onStoreUnavailable: FailClosed)" : ""),
          Outcome.Connection.CLOSE_AFTER);
    };
  }
}
