package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.policy.compile.CompiledModel;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledPricing;
import dev.ratekeeper.sidecar.identity.Caller;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.BudgetStatus;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.Dimension;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import dev.ratekeeper.sidecar.metrics.SidecarMetrics;
import dev.ratekeeper.sidecar.wire.MeteredRequest;
import dev.ratekeeper.sidecar.wire.ProviderError;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Admission of one metered call, with the policy's ways out of a denial, tried in this order:
 * <ol>
 *   <li><b>Model fallback</b>: only the model's own quota blocks and it names a fallback the tier
 *       may use: the request is rewritten to the fallback and admitted against it (following the
 *       chain at most its length), {@code x-ratekeeper-model-fallback: <from> -> <to>}.</li>
 *   <li><b>Budget downgrade</b>: only budgets (user, run, global) block and the model names a
 *       {@code budgetFallback} the tier may use: the call is rewritten to that cheaper model (same
 *       header). An admitted call whose budget reaches the model's {@code downgradeAtPercent} is
 *       refunded whole and rewritten the same way (not in Shadow mode, which never changes traffic).</li>
 *   <li><b>Budget clamp</b> ({@code budgets.clampMaxTokens}): only a budget blocks and a sensible
 *       output cap ({@value #MIN_CLAMPED_TOKENS} tokens, or the asked cap if smaller) can still be
 *       paid: the cap is lowered to what the remaining budget pays for,
 *       {@code x-ratekeeper-max-tokens-clamped: <n>}.</li>
 *   <li><b>Queueing</b> ({@code maxQueueWait}): waiting helps and fits the tier's wait: the request
 *       waits in this sidecar's {@link AdmissionQueue}, lower priority number first.</li>
 * </ol>
 * Otherwise the denial is answered.
 */
final class MeteredAdmission {
  static final long MIN_CLAMPED_TOKENS = 256;
  private static final Set<Dimension> MODEL_DIMENSIONS = EnumSet.of(Dimension.MODEL_REQUESTS_PER_MINUTE,
      Dimension.MODEL_TOKENS_PER_MINUTE, Dimension.MODEL_TOKENS_PER_DAY);
  private static final Set<Dimension> BUDGETS = EnumSet.of(Dimension.BUDGET, Dimension.GLOBAL_BUDGET,
      Dimension.RUN_BUDGET);

  private final ProxyServer.Deps deps;
  private final HttpServerRequest req;
  private final CompiledPolicy policy;
  private final Route route;
  private final MeteredRequest request;
  private final Buffer body;
  private final Caller caller;
  private final Supplier<String> requestIds;
  private final Map<String, String> rewrites = new LinkedHashMap<>();
  private AdmissionPlan.Planned planned;
  private int fallbacks;
  private boolean clamped;
  private long queuedAtNanos = -1;
  private long deadlineMs;
  private AdmissionQueue.Waiter waiter;
  /** The agent's run, from {@code identity.runHeader}; null outside any run. */
  private String run;
  /** Queue priority: the tier's, or less important as the call asks ({@link #PRIORITY_HEADER}). */
  private int priority;
  private final boolean shadowCooldown;

  MeteredAdmission(ProxyServer.Deps deps, HttpServerRequest req, CompiledPolicy policy, Route route,
      MeteredRequest request, Buffer body, Caller caller, AdmissionPlan.Planned planned, Supplier<String> requestIds,
      boolean shadowCooldown) {
    this.shadowCooldown = shadowCooldown;
    this.deps = deps;
    this.req = req;
    this.policy = policy;
    this.route = route;
    this.request = request;
    this.body = body;
    this.caller = caller;
    this.planned = planned;
    this.requestIds = requestIds;
  }

  /** The longest run name accepted in {@code identity.runHeader}: it becomes part of counter keys. */
  static final int MAX_RUN_LENGTH = 128;

  /**
   * The agent may mark a call's priority: {@code interactive} (the tier's), {@code batch} (the tier's
   * + {@value AdmissionQueue#BATCH_OFFSET}) or a number; never more important than its tier allows.
   */
  static final String PRIORITY_HEADER = "X-Ratekeeper-Priority";

  void start() {
    priority = planned.tier().priority();
    String asked = req.headers().get(PRIORITY_HEADER);
    if (asked != null) {
      Integer marked = markedPriority(asked.strip(), priority);
      if (marked == null) {
        deps.metrics().request(route.upstream().name(), label(), caller.tier(), "invalid");
        Responses.error(req.response(), format(), ProviderError.of(ProviderError.Kind.INVALID_REQUEST,
            PRIORITY_HEADER + " must be interactive, batch or a number from 0 to 1000"));
        return;
      }
      priority = marked;
    }
    String named = req.headers().get(policy.identity().runHeader());
    if (named != null && !named.isBlank()) {
      if (named.strip().length() > MAX_RUN_LENGTH) {
        deps.metrics().request(route.upstream().name(), label(), caller.tier(), "invalid");
        Responses.error(req.response(), format(), ProviderError.of(ProviderError.Kind.INVALID_REQUEST,
            policy.identity().runHeader() + " is longer than " + MAX_RUN_LENGTH + " characters"));
        return;
      }
      run = named.strip();
    }
    attempt().onFailure(err -> {
      // a stage threw: answer rather than leave the client waiting
      deps.metrics().request(route.upstream().name(), label(), caller.tier(), "error");
      Responses.error(req.response(), format(), ProviderError.of(ProviderError.Kind.INTERNAL,
          "Ratekeeper could not process the request (" + err.getClass().getSimpleName() + ")"));
    });
  }

  /** One try; completes with the ms to wait before the next one when queued, or -1 when this request is done. */
  private Future<Long> attempt() {
    LimiterStore limiter = deps.limiter();
    SidecarMetrics metrics = deps.metrics();
    long reservedOutput = deps.forwarder().outputs().reservation(planned.model(), caller.tier(), planned.outputCap());
    long tokens = planned.tokens();
    long cost = planned.costMicros();
    if (reservedOutput < planned.outputCap()) { // the model reserves what it lately produced, not the cap
      tokens = planned.inputEstimate() + reservedOutput;
      cost = planned.model().pricing() == null ? 0
          : planned.model().pricing().costMicros(planned.inputEstimate(), reservedOutput, 0, 0);
    }
    // a message batch counts as many requests as it carries on every request rate and count
    int calls = request.endpoint().batch() ? Math.max(1, request.parts().size()) : 1;
    AdmitRequest ask = AdmitRequest.metered(policy, requestIds.get(), caller.user(), planned.tier(), planned.model(),
        tokens, cost).withRun(run).withCalls(calls);
    long start = System.nanoTime();
    return limiter.admit(ask).transform(decided -> {
      metrics.decisionTime(System.nanoTime() - start);
      if (req.response().closed()) {
        return Future.succeededFuture(-1L);
      }
      if (decided.failed()) {
        metrics.request(route.upstream().name(), label(), caller.tier(), "error");
        Responses.error(req.response(), format(), ProviderError.of(ProviderError.Kind.STORE_UNAVAILABLE,
            "rate-limit store unavailable; try again shortly"));
        return Future.succeededFuture(-1L);
      }
      Decision decision = decided.result();
      if (decision.allowed()) {
        if (!decision.shadow() && pastDowngradePoint(decision) && downgrade()) {
          // the spend passed the model's downgradeAtPercent: this call goes to the cheaper model instead,
          // and every counter the first admission charged (request counts included) is given back
          return limiter.refund(ask).transform(refunded -> attempt());
        }
        admitted(ask, decision);
        return Future.succeededFuture(-1L);
      }
      if (fallBack(decision) || (onlyBudgetsBlock(decision) && downgrade()) || clamp(ask, decision)) {
        return attempt();
      }
      return queueOrDeny(decision);
    });
  }

  private void admitted(AdmitRequest ask, Decision decision) {
    if (queuedAtNanos >= 0) {
      deps.metrics().queueWait(System.nanoTime() - queuedAtNanos);
    }
    deps.metrics().request(route.upstream().name(), label(), caller.tier(),
        decision.limitedBy().isEmpty() && !shadowCooldown ? "allowed" : "shadow_limited");
    Map<String, String> headers = Responses.allowedHeaders(decision, policy.warnAtPercent());
    headers.putAll(rewrites);
    if (shadowCooldown) {
      headers.merge("x-ratekeeper-shadow-limited-by", "upstream.cooldown", (a, b) -> b + "," + a);
    }
    deps.forwarder().forwardMetered(req, ask, route, request, body, caller, planned, headers);
  }

  private boolean fallBack(Decision decision) {
    CompiledModel model = planned.model();
    if (model == null || model.fallback() == null || fallbacks >= policy.models().size() || request.endpoint().batch()
        || !MODEL_DIMENSIONS.containsAll(decision.limitedBy())) {
      return false;
    }
    String to = model.fallback();
    if (!planned.tier().allowsModel(to)) {
      return false;
    }
    return rewriteModel(to);
  }

  /** The call now asks for {@code to}: planned again, said in {@code x-ratekeeper-model-fallback}. */
  private boolean rewriteModel(String to) {
    if (!request.canServe(to)) {
      return false; // Azure OpenAI: no deployment of the upstream serves that model
    }
    String from = request.model();
    request.setModel(to);
    AdmissionPlan.Result replanned = AdmissionPlan.plan(policy, caller, request);
    if (!(replanned instanceof AdmissionPlan.Planned next)) {
      request.setModel(from);
      return false;
    }
    fallbacks++;
    planned = next;
    String original = rewrites.containsKey("x-ratekeeper-model-fallback") ? request.originalModel() : from;
    rewrites.put("x-ratekeeper-model-fallback", original + " -> " + to);
    return true;
  }

  /** The queue priority a call marked {@code asked} gets in a tier of {@code tierPriority}; null if invalid. */
  static Integer markedPriority(String asked, int tierPriority) {
    switch (asked.toLowerCase(java.util.Locale.ROOT)) {
      case "interactive":
        return tierPriority;
      case "batch":
        return tierPriority + AdmissionQueue.BATCH_OFFSET;
      default:
        if (asked.isEmpty() || asked.length() > 4 || !asked.chars().allMatch(Character::isDigit)) {
          return null;
        }
        int number = Integer.parseInt(asked);
        return number > 1000 ? null : Math.max(tierPriority, number);
    }
  }

  private static boolean onlyBudgetsBlock(Decision decision) {
    return !decision.limitedBy().isEmpty() && BUDGETS.containsAll(decision.limitedBy());
  }

  /** Whether a budget of this call (user, run, global) reaches the model's {@code downgradeAtPercent}. */
  private boolean pastDowngradePoint(Decision decision) {
    CompiledModel model = planned.model();
    if (model == null || model.downgradeAtPercent() == null || model.budgetFallback() == null) {
      return false;
    }
    for (BudgetStatus budget : new BudgetStatus[] {decision.userBudget(), decision.globalBudget(),
        decision.runBudget()}) {
      if (budget != null && budget.reaches(model.downgradeAtPercent())) {
        return true;
      }
    }
    return false;
  }

  /**
   * Rewrites the call to its model's {@code budgetFallback} (a cheaper model) when the tier may use
   * it; false when there is none, the tier may not, or the chain of rewrites is as long as the model list.
   */
  private boolean downgrade() {
    CompiledModel model = planned.model();
    if (model == null || model.budgetFallback() == null || fallbacks >= policy.models().size()
        || !planned.tier().allowsModel(model.budgetFallback())) {
      return false;
    }
    return rewriteModel(model.budgetFallback());
  }

  private boolean clamp(AdmitRequest ask, Decision decision) {
    CompiledModel model = planned.model();
    if (!policy.clampMaxTokens() || clamped || model == null || model.pricing() == null || request.endpoint().batch()
        || !request.endpoint().producesOutput() || decision.limitedBy().isEmpty() || !BUDGETS.containsAll(decision.limitedBy())) {
      return false;
    }
    long available = Long.MAX_VALUE;
    for (BudgetStatus budget : new BudgetStatus[] {decision.userBudget(), decision.globalBudget(),
        decision.runBudget()}) {
      if (budget != null) {
        // usedMicros counts this request's reservation; what is left for it is the rest
        available = Math.min(available, budget.limitMicros() - (budget.usedMicros() - ask.reservedCostMicros()));
      }
    }
    long cap = affordableOutput(model.pricing(), planned.inputEstimate(), available);
    if (cap >= planned.outputCap() || cap < Math.min(MIN_CLAMPED_TOKENS, planned.outputCap())) {
      return false;
    }
    long each = cap / request.choices();
    if (each < 1) {
      return false;
    }
    request.setOutputCap(each);
    AdmissionPlan.Result replanned = AdmissionPlan.plan(policy, caller, request);
    if (!(replanned instanceof AdmissionPlan.Planned next)) {
      return false;
    }
    clamped = true;
    planned = next;
    rewrites.put("x-ratekeeper-max-tokens-clamped", Long.toString(each));
    return true;
  }

  /**
   * The largest output cap whose reservation fits {@code availableMicros}: cost is
   * {@code ceil((input × inputPrice + cap × outputPrice) / 10^6)}, so the cap must satisfy
   * {@code cap × outputPrice ≤ available × 10^6 − input × inputPrice}. -1 when nothing fits.
   */
  static long affordableOutput(CompiledPricing pricing, long inputTokens, long availableMicros) {
    if (availableMicros == Long.MAX_VALUE || pricing.outputPerMillion() == 0) {
      return Long.MAX_VALUE;
    }
    try {
      long room = Math.subtractExact(Math.multiplyExact(availableMicros, 1_000_000L),
          Math.multiplyExact(inputTokens, pricing.inputPerMillion()));
      return room < 0 ? -1 : room / pricing.outputPerMillion();
    } catch (ArithmeticException overflow) {
      return Long.MAX_VALUE;
    }
  }

  private Future<Long> queueOrDeny(Decision decision) {
    long maxWait = planned.tier().maxQueueWaitMs();
    long now = System.currentTimeMillis();
    if (maxWait > 0 && decision.retryHelpsSoon() && !decision.neverPassable() && !policy.shadow()) {
      if (queuedAtNanos < 0) {
        queuedAtNanos = System.nanoTime();
        deadlineMs = now + maxWait;
      }
      if (now + decision.retryAfterMs() <= deadlineMs) {
        if (waiter == null) {
          waiter = deps.queue().enqueue(priority, decision.retryAfterMs(), this::attempt);
          req.response().closeHandler(v -> waiter.leave());
        }
        return Future.succeededFuture(Math.max(1, decision.retryAfterMs()));
      }
    }
    if (queuedAtNanos >= 0) {
      deps.metrics().queueWait(System.nanoTime() - queuedAtNanos);
    }
    ProxyServer.deny(deps.metrics(), req.response(), format(), route, label(), caller.tier(), decision);
    return Future.succeededFuture(-1L);
  }

  private String label() {
    return dev.ratekeeper.sidecar.metrics.MetricLabels.model(policy, request.model());
  }

  private UpstreamFormat format() {
    return route.upstream().format();
  }
}
