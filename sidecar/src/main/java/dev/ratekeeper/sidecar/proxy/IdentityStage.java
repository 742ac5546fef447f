package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.api.StoreFailureMode;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.identity.Caller;
import dev.ratekeeper.sidecar.identity.IdentityResolver;
import dev.ratekeeper.sidecar.wire.ProviderError;
import io.vertx.core.Future;
import io.vertx.core.http.HttpServerRequest;
import java.util.Map;

/**
 * The identity stage, for metered and unmetered calls alike: the caller ({@link IdentityResolver}),
 * or the refusal — 401 for an unknown or missing required key, 429 while unknown keys are rate
 * limited, and, when the key could not be looked up because the store is away, the policy's
 * {@code onStoreUnavailable}: FailClosed answers 503; FailOpen and LocalFallback go on as the
 * anonymous user of the default tier (whose limits the degraded store then applies).
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
      Outcome.Tags unknownTier = tags.withTier("unknown");
      return Step.stop(switch (refused.reason()) {
        case UNKNOWN_KEY, KEY_REQUIRED -> Outcome.refused(unknownTier, "unauthorized",
            ProviderError.Kind.UNAUTHORIZED, refused.message(), Outcome.Connection.CLOSE_AFTER);
        case TOO_MANY_UNKNOWN_KEYS -> {
          long ms = Math.max(1, refused.retryAfterMs());
          yield new Outcome.Refused(unknownTier, "unauthorized", ProviderError.of(ProviderError.Kind.RATE_LIMITED,
              refused.message()), Map.of("retry-after", Long.toString((ms + 999) / 1000),
              "retry-after-ms", Long.toString(ms)), Outcome.Connection.CLOSE_AFTER);
        }
        default -> Outcome.refused(unknownTier, "error", ProviderError.Kind.STORE_UNAVAILABLE,
            refused.message() + "; try again shortly (onStoreUnavailable: FailClosed)", Outcome.Connection.CLOSE_AFTER);
      });
    });
  }
}
