package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.api.Money;
import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.policy.compile.CompiledModel;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledTier;
import dev.ratekeeper.sidecar.identity.Caller;
import dev.ratekeeper.sidecar.identity.IdentityResolver;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.Dimension;
import dev.ratekeeper.sidecar.limiter.DimensionStatus;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import dev.ratekeeper.sidecar.wire.ProviderError;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.UUID;

/**
 * {@code GET /ratekeeper/v1/limits[?model=<model>]} on the proxy port: what every limit of the
 * caller (its user, tier and run, as a call with the same headers would be decided) has left now,
 * so an agent can plan instead of retrying into 429s. Decided by the same script as a call, in
 * peek mode: nothing is charged, counted or recorded. Never forwarded; 503 while Redis is away.
 *
 * <pre>{"user":"alice","tier":"pro","run":"task-7","model":"gpt-4o","limits":[
 *   {"dimension":"run.budget","unit":"usd","limit":"1.00","remaining":"0.42","resetMs":1800000,"blocking":false}, ...]}</pre>
 */
final class LimitsEndpoint {
  static final String PATH = "/ratekeeper/v1/limits";
  /** Looks answered per second by one sidecar (each is a script call on the shared Redis). */
  static final int PER_SECOND = 50;
  private long windowStartMs;
  private int inWindow;

  private final LimiterStore limiter;
  private final IdentityResolver identity;
  private final dev.ratekeeper.sidecar.time.SidecarClock clock;

  LimitsEndpoint(LimiterStore limiter, IdentityResolver identity, dev.ratekeeper.sidecar.time.SidecarClock clock) {
    this.limiter = limiter;
    this.identity = identity;
    this.clock = clock;
  }

  void handle(HttpServerRequest req, CompiledPolicy policy) {
    UpstreamFormat format = UpstreamFormat.OPENAI;
    if (req.method() != HttpMethod.GET) {
      req.response().setStatusCode(405).putHeader("allow", "GET").putHeader("content-type", "application/json")
          .end(ProviderError.of(ProviderError.Kind.INVALID_REQUEST, PATH + " answers GET only").body(format));
      return;
    }
    if (!allowNow(clock.millis())) {
      req.response().putHeader("retry-after", "1");
      Responses.error(req.response(), format, ProviderError.of(ProviderError.Kind.RATE_LIMITED,
          PATH + " answers at most " + PER_SECOND + " looks a second per sidecar"));
      return;
    }
    String modelName = req.getParam("model");
    identity.resolve(policy, req.headers()).onComplete(who -> {
      if (who.failed() || !(who.result() instanceof IdentityResolver.Resolved resolved)) {
        String why = who.failed() ? "the caller could not be identified"
            : ((IdentityResolver.Refused) who.result()).message();
        Responses.unauthorized(req.response(), format, why);
        return;
      }
      Caller caller = resolved.caller();
      CompiledTier tier = policy.tier(caller.tier()).orElseThrow();
      if (modelName != null && !tier.allowsModel(modelName)) {
        Responses.error(req.response(), format, ProviderError.of(ProviderError.Kind.FORBIDDEN,
            "model \"" + modelName + "\" is not available to tier \"" + tier.name() + "\""));
        return;
      }
      CompiledModel model = modelName == null ? null : policy.model(modelName).orElse(null);
      String run = req.headers().get(policy.identity().runHeader());
      run = run == null || run.isBlank() ? null : run.strip();
      if (run != null && run.length() > Admission.MAX_RUN_LENGTH) {
        Responses.error(req.response(), format, ProviderError.of(ProviderError.Kind.INVALID_REQUEST,
            policy.identity().runHeader() + " is longer than " + Admission.MAX_RUN_LENGTH + " characters"));
        return;
      }
      AdmitRequest peek = AdmitRequest.metered(policy, "peek-" + UUID.randomUUID(), caller.user(), tier, model, 0, 0)
          .withRun(run).asPeek();
      String shownRun = run;
      limiter.admit(peek).onComplete(decided -> {
        if (decided.failed()) {
          Responses.error(req.response(), format, ProviderError.of(ProviderError.Kind.STORE_UNAVAILABLE,
              "rate-limit store unavailable; limits cannot be read now"));
          return;
        }
        req.response().putHeader("content-type", "application/json").putHeader("cache-control", "no-store")
            .end(body(caller, shownRun, modelName, decided.result()).encode());
      });
    });
  }

  private synchronized boolean allowNow(long nowMs) {
    if (nowMs - windowStartMs >= 1_000) {
      windowStartMs = nowMs;
      inWindow = 0;
    }
    return ++inWindow <= PER_SECOND;
  }

  private static JsonObject body(Caller caller, String run, String model, Decision decision) {
    JsonArray limits = new JsonArray();
    for (DimensionStatus status : decision.dimensions()) {
      Dimension dimension = status.dimension();
      boolean money = dimension.unit() == Dimension.Unit.MICRO_USD;
      JsonObject limit = new JsonObject()
          .put("dimension", dimension.wireName() + (status.tierShare() ? " (tier share)" : ""))
          .put("unit", switch (dimension.unit()) {
            case REQUESTS -> "requests";
            case TOKENS -> "tokens";
            case MICRO_USD -> "usd";
            case LEASES -> "in flight";
          });
      if (money) {
        limit.put("limit", Money.format(status.limit())).put("remaining", Money.format(status.remaining()));
      } else {
        limit.put("limit", status.limit()).put("remaining", status.remaining());
      }
      limits.add(limit.put("resetMs", status.resetMs()).put("blocking", status.blocking()));
    }
    JsonObject out = new JsonObject().put("user", caller.user()).put("tier", caller.tier());
    if (run != null) {
      out.put("run", run);
    }
    if (model != null) {
      out.put("model", model);
    }
    return out.put("limits", limits);
  }
}
