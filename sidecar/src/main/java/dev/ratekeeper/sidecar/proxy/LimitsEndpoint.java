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
import dev.ratekeeper.sidecar.metrics.MetricLabels;
import dev.ratekeeper.sidecar.time.SidecarClock;
import dev.ratekeeper.sidecar.wire.ProviderError;
import io.vertx.core.Future;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.Map;
import java.util.UUID;

/**
 * {@code GET /ratekeeper/v1/limits[?model=<model>]} on the proxy port: what every limit of the
 * caller (its user, tier and run, as a call with the same headers would be decided) has left now,
 * so an agent can plan instead of retrying into 429s. Decided by the same script as a call, in
 * peek mode: nothing is charged or recorded against a limit. Never forwarded; 503 while Redis is away.
 * A stage of the pipeline: it returns its {@link Outcome}, which the {@link Responder} writes and
 * counts in {@code ratekeeper_requests_total} like every other answer.
 *
 * <pre>{"user":"alice","tier":"pro","run":"task-7","model":"gpt-4o","limits":[
 *   {"dimension":"run.budget","unit":"usd","limit":"1.00","remaining":"0.42","resetMs":1800000,"blocking":false}, ...]}</pre>
 */
final class LimitsEndpoint {
  static final String PATH = "/ratekeeper/v1/limits";
  /** Looks answered per second by one sidecar (each is a script call on the shared Redis). */
  static final int PER_SECOND = 50;
  /** The error shape of its answers (it belongs to no upstream). */
  private static final UpstreamFormat FORMAT = UpstreamFormat.OPENAI;
  /** The second of looks being counted: its start on the monotonic clock, in ms (once {@code counting}). */
  private long windowStartMs;
  private boolean counting;
  private int inWindow;

  private final LimiterStore limiter;
  private final IdentityStage identify;
  private final SidecarClock clock;

  LimitsEndpoint(LimiterStore limiter, IdentityResolver identity, SidecarClock clock) {
    this.limiter = limiter;
    this.identify = new IdentityStage(identity);
    this.clock = clock;
  }

  /**
   * The outcome of a look: the limits (200, counted as {@code limits}), or a refusal — 405 for
   * another method, 429 past {@value #PER_SECOND} looks a second, the identity stage's 401/429/503,
   * 403 for a model the tier may not use, 400 for a query that cannot be decoded or a run id too
   * long, 503 while the store is away.
   * Labels: upstream {@code none}, the policy's label of the model asked about ({@code none} without
   * one), the caller's tier.
   */
  Future<Outcome> answer(HttpServerRequest req, CompiledPolicy policy, Loop loop) {
    String modelName;
    try {
      modelName = req.getParam("model");
    } catch (IllegalArgumentException e) {
      // a malformed percent-escape in the query: the client's error, not the sidecar's
      return done(Outcome.refused(new Outcome.Tags(FORMAT, "none", "none", "unknown"), "invalid",
          ProviderError.Kind.INVALID_REQUEST, "the query string cannot be decoded", Outcome.Connection.KEEP));
    }
    Outcome.Tags tags = new Outcome.Tags(FORMAT, "none",
        modelName == null ? "none" : MetricLabels.model(policy, modelName), "unknown");
    if (req.method() != HttpMethod.GET) {
      return done(new Outcome.Refused(tags, "refused", ProviderError.of(ProviderError.Kind.METHOD_NOT_ALLOWED,
          PATH + " answers GET only"), Map.of("allow", "GET"), Outcome.Connection.CLOSE_AFTER));
    }
    long waitMs = waitMs();
    if (waitMs > 0) {
      return done(Outcome.retryLater(tags, "refused", waitMs,
          PATH + " answers at most " + PER_SECOND + " looks a second per sidecar", Outcome.Connection.KEEP));
    }
    return identify.caller(req, policy, tags, loop).compose(who -> {
      if (who instanceof Step.Stop<Caller> stop) {
        return done(stop.outcome());
      }
      Caller caller = ((Step.Next<Caller>) who).value();
      Outcome.Tags callerTags = tags.withTier(caller.tier());
      CompiledTier tier = policy.tier(caller.tier()).orElseThrow();
      if (modelName != null && !tier.allowsModel(modelName)) {
        return done(Outcome.refused(callerTags, "invalid", ProviderError.Kind.FORBIDDEN,
            "model \"" + modelName + "\" is not available to tier \"" + tier.name() + "\"", Outcome.Connection.KEEP));
      }
      CompiledModel model = modelName == null ? null : policy.model(modelName).orElse(null);
      String run = req.headers().get(policy.identity().runHeader());
      String shownRun = run == null || run.isBlank() ? null : run.strip();
      if (shownRun != null && shownRun.length() > Admission.MAX_RUN_LENGTH) {
        return done(Outcome.refused(callerTags, "invalid", ProviderError.Kind.INVALID_REQUEST,
            policy.identity().runHeader() + " is longer than " + Admission.MAX_RUN_LENGTH + " characters",
            Outcome.Connection.KEEP));
      }
      AdmitRequest peek = AdmitRequest.metered(policy, "peek-" + UUID.randomUUID(), caller.user(), tier, model, 0, 0)
          .withRun(shownRun).asPeek();
      return loop.on(limiter.admit(peek)).transform(decided -> done(decided.failed()
          ? Outcome.storeUnavailable(callerTags)
          : new Outcome.Answered(callerTags, "limits", 200, NO_STORE,
              body(caller, shownRun, modelName, decided.result()).encode())));
    });
  }

  private static final Map<String, String> NO_STORE = Map.of("cache-control", "no-store");

  private static Future<Outcome> done(Outcome outcome) {
    return Future.succeededFuture(outcome);
  }

  /** 0 when a look may be answered now (and counts it), else how long until the next second's looks. */
  long waitMs() {
    // the monotonic clock: a wall clock set back would otherwise keep the second from ending
    return waitMs(clock.nanos() / 1_000_000);
  }

  private synchronized long waitMs(long nowMs) {
    if (!counting || nowMs - windowStartMs >= 1_000) {
      counting = true;
      windowStartMs = nowMs;
      inWindow = 0;
    }
    return ++inWindow <= PER_SECOND ? 0 : Math.max(1, windowStartMs + 1_000 - nowMs);
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
