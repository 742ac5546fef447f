package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.compile.CompiledModel;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledPricing;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.BudgetStatus;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.Dimension;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import dev.ratekeeper.sidecar.metrics.SidecarMetrics;
import dev.ratekeeper.sidecar.time.SidecarClock;
import dev.ratekeeper.sidecar.wire.MeteredRequest;
import dev.ratekeeper.sidecar.wire.ProviderError;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.http.HttpServerRequest;
import java.util.EnumSet;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The admission stage of one metered call: asks the limiter, and on a denial tries the policy's ways
 * out, in this order:
 * <ol>
 *   <li><b>Model fallback</b>: only the model's own quota blocks and it names a fallback the tier
 *       may use: the call is planned again for the fallback and admitted against it (following the
 *       chain at most its length), {@code x-ratekeeper-model-fallback: <from> -> <to>}.</li>
 *   <li><b>Budget downgrade</b>: only budgets (user, run, global) block and the model names a
 *       {@code budgetFallback} the tier may use: the call is planned for that cheaper model (same
 *       header). An admitted call whose budget reaches the model's {@code downgradeAtPercent} is
 *       refunded whole and planned the same way (not in Shadow mode, which never changes traffic).</li>
 *   <li><b>Budget clamp</b> ({@code budgets.clampMaxTokens}): only a budget blocks and a sensible
 *       output cap ({@value #MIN_CLAMPED_TOKENS} tokens, or the asked cap if smaller) can still be
 *       paid: the cap is lowered to what the remaining budget pays for,
 *       {@code x-ratekeeper-max-tokens-clamped: <n>}.</li>
 *   <li><b>Queueing</b> ({@code maxQueueWait}): waiting helps and fits the tier's wait: the call
 *       waits in this sidecar's {@link AdmissionQueue}, lower priority number first.</li>
 * </ol>
 * Each way out makes a new {@link RequestPlan}; the stage completes with the admitted plan or the
 * denial. All of it runs on the request's event loop ({@link Loop}): the limiter's answers and the
 * queue's turns are brought back to it, so this object's fields have one thread.
 */
final class Admission {
  static final long MIN_CLAMPED_TOKENS = 256;
  /** The longest run name accepted in {@code identity.runHeader}: it becomes part of counter keys. */
  static final int MAX_RUN_LENGTH = 128;
  /**
   * The agent may mark a call's priority: {@code interactive} (the tier's), {@code batch} (the tier's
   * + {@value AdmissionQueue#BATCH_OFFSET}) or a number; never more important than its tier allows.
   */
  static final String PRIORITY_HEADER = "X-Ratekeeper-Priority";
  private static final Set<Dimension> MODEL_DIMENSIONS = EnumSet.of(Dimension.MODEL_REQUESTS_PER_MINUTE,
      Dimension.MODEL_TOKENS_PER_MINUTE, Dimension.MODEL_TOKENS_PER_DAY);
  private static final Set<Dimension> BUDGETS = EnumSet.of(Dimension.BUDGET, Dimension.GLOBAL_BUDGET,
      Dimension.RUN_BUDGET);

  /** What the stage needs besides the call: shared by every call of a proxy. */
  record Deps(LimiterStore limiter, SidecarMetrics metrics, AdmissionQueue queue, OutputHistory outputs,
      SidecarClock clock, Supplier<String> requestIds) {}

  /** An admitted call: its plan, what was reserved, and the decision (remaining counts, warnings). */
  record Admitted(RequestPlan plan, AdmitRequest ask, Decision decision) {}

  private final Deps deps;
  private final HttpServerRequest req;
  private final Loop loop;
  private final Promise<Step<Admitted>> result = Promise.promise();
  private long queuedAtNanos = -1;
  private long deadlineMs;
  private AdmissionQueue.Waiter waiter;
  private RequestPlan plan;

  private Admission(Deps deps, HttpServerRequest req, Loop loop, RequestPlan plan) {
    this.deps = deps;
    this.req = req;
    this.loop = loop;
    this.plan = plan;
  }

  /**
   * Admits the call planned as {@code planned}, after checking the agent's priority and run headers
   * (a bad one is a 400).
   */
  static Future<Step<Admitted>> admit(Deps deps, HttpServerRequest req, Loop loop, CompiledPolicy policy, Route route,
      dev.ratekeeper.sidecar.identity.Caller caller, AdmissionPlan.Planned planned, boolean shadowCooldown) {
    RequestPlan first = RequestPlan.first(policy, route, caller, planned, planned.tier().priority(), null,
        shadowCooldown);
    int priority = first.priority();
    String asked = req.headers().get(PRIORITY_HEADER);
    if (asked != null) {
      Integer marked = markedPriority(asked.strip(), priority);
      if (marked == null) {
        return Future.succeededFuture(Step.stop(invalid(first, PRIORITY_HEADER
            + " must be interactive, batch or a number from 0 to 1000")));
      }
      priority = marked;
    }
    String run = null;
    String named = req.headers().get(policy.identity().runHeader());
    if (named != null && !named.isBlank()) {
      if (named.strip().length() > MAX_RUN_LENGTH) {
        return Future.succeededFuture(Step.stop(invalid(first, policy.identity().runHeader() + " is longer than "
            + MAX_RUN_LENGTH + " characters")));
      }
      run = named.strip();
    }
    RequestPlan plan = RequestPlan.first(policy, route, caller, planned, priority, run, shadowCooldown);
    Admission admission = new Admission(deps, req, loop, plan);
    admission.attempt().onFailure(admission::fail);
    return admission.result.future();
  }

  private static Outcome invalid(RequestPlan plan, String message) {
    return Outcome.refused(plan.tags(), "invalid", ProviderError.Kind.INVALID_REQUEST, message,
        Outcome.Connection.KEEP);
  }

  private void fail(Throwable err) {
    result.tryComplete(Step.stop(new Outcome.Failed(plan.tags(), err)));
  }

  private void done(Step<Admitted> step) {
    if (queuedAtNanos >= 0) {
      deps.metrics().queueWait(deps.clock().nanos() - queuedAtNanos);
    }
    result.tryComplete(step);
  }

  /** One try; completes with the ms to wait before the next one when queued, or -1 when the call is done. */
  private Future<Long> attempt() {
    AdmissionPlan.Planned planned = plan.planned();
    long reservedOutput = deps.outputs().reservation(planned.model(), plan.caller().tier(), planned.outputCap());
    long tokens = planned.tokens();
    long cost = planned.costMicros();
    if (reservedOutput < planned.outputCap()) { // the model reserves what it lately produced, not the cap
      tokens = planned.inputEstimate() + reservedOutput;
      cost = planned.model().pricing() == null ? 0
          : planned.model().pricing().costMicros(planned.inputEstimate(), reservedOutput, 0, 0);
    }
    MeteredRequest request = plan.request();
    // a message batch counts as many requests as it carries on every request rate and count
    int calls = request.endpoint().batch() ? Math.max(1, request.parts().size()) : 1;
    AdmitRequest ask = AdmitRequest.metered(plan.policy(), deps.requestIds().get(), plan.caller().user(),
        planned.tier(), planned.model(), tokens, cost).withRun(plan.run()).withCalls(calls);
    long start = deps.clock().nanos();
    return loop.on(deps.limiter().admit(ask)).transform(decided -> {
      deps.metrics().decisionTime(deps.clock().nanos() - start);
      if (req.response().closed()) {
        if (decided.succeeded() && decided.result().allowed()) {
          deps.limiter().refund(ask); // charged for a client no longer there: nothing will be sent
        }
        done(Step.stop(new Outcome.Abandoned(plan.tags())));
        return Future.succeededFuture(-1L);
      }
      if (decided.failed()) {
        done(Step.stop(Outcome.storeUnavailable(plan.tags())));
        return Future.succeededFuture(-1L);
      }
      Decision decision = decided.result();
      if (decision.allowed()) {
        if (!decision.shadow() && pastDowngradePoint(decision) && downgrade()) {
          // the spend passed the model's downgradeAtPercent: this call goes to the cheaper model instead,
          // and every counter the first admission charged (request counts included) is given back
          return loop.on(deps.limiter().refund(ask)).transform(refunded -> attempt());
        }
        done(Step.next(new Admitted(plan, ask, decision)));
        return Future.succeededFuture(-1L);
      }
      if (fallBack(decision) || (onlyBudgetsBlock(decision) && downgrade()) || clamp(ask, decision)) {
        return attempt();
      }
      return queueOrDeny(decision);
    });
  }

  private boolean fallBack(Decision decision) {
    CompiledModel model = plan.planned().model();
    if (model == null || model.fallback() == null || plan.fallbacks() >= plan.policy().models().size()
        || plan.request().endpoint().batch() || !MODEL_DIMENSIONS.containsAll(decision.limitedBy())) {
      return false;
    }
    String to = model.fallback();
    return plan.planned().tier().allowsModel(to) && rewriteModel(to);
  }

  /** The call now asks for {@code to}: planned again, said in {@code x-ratekeeper-model-fallback}. */
  private boolean rewriteModel(String to) {
    if (!plan.request().canServe(to)) {
      return false; // Azure OpenAI: no deployment of the upstream serves that model
    }
    AdmissionPlan.Result replanned = AdmissionPlan.plan(plan.policy(), plan.caller(), plan.request().withModel(to));
    if (!(replanned instanceof AdmissionPlan.Planned next)) {
      return false;
    }
    plan = plan.fallenBackTo(next);
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
    CompiledModel model = plan.planned().model();
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
   * Plans the call for its model's {@code budgetFallback} (a cheaper model) when the tier may use
   * it; false when there is none, the tier may not, or the chain of rewrites is as long as the model list.
   */
  private boolean downgrade() {
    CompiledModel model = plan.planned().model();
    if (model == null || model.budgetFallback() == null || plan.fallbacks() >= plan.policy().models().size()
        || !plan.planned().tier().allowsModel(model.budgetFallback())) {
      return false;
    }
    return rewriteModel(model.budgetFallback());
  }

  private boolean clamp(AdmitRequest ask, Decision decision) {
    AdmissionPlan.Planned planned = plan.planned();
    CompiledModel model = planned.model();
    MeteredRequest request = plan.request();
    if (!plan.policy().clampMaxTokens() || plan.clamped() || model == null || model.pricing() == null
        || request.endpoint().batch() || !request.endpoint().producesOutput() || !onlyBudgetsBlock(decision)) {
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
    AdmissionPlan.Result replanned = AdmissionPlan.plan(plan.policy(), plan.caller(), request.withOutputCap(each));
    if (!(replanned instanceof AdmissionPlan.Planned next)) {
      return false;
    }
    plan = plan.clampedTo(next, each);
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
    long maxWait = plan.planned().tier().maxQueueWaitMs();
    long now = deps.clock().millis();
    if (maxWait > 0 && decision.retryHelpsSoon() && !decision.neverPassable() && !plan.policy().shadow()) {
      if (queuedAtNanos < 0) {
        queuedAtNanos = deps.clock().nanos();
        deadlineMs = now + maxWait;
      }
      if (now + decision.retryAfterMs() <= deadlineMs) {
        if (waiter == null) {
          // the queue's turn is taken on this call's event loop
          waiter = deps.queue().enqueue(plan.priority(), decision.retryAfterMs(), () -> loop.run(this::attempt));
          req.response().closeHandler(v -> {
            // the client went away while queued: leave the queue, and the call ends here (a try already
            // under way finds the client gone and gives back what it was charged)
            waiter.leave();
            done(Step.stop(new Outcome.Abandoned(plan.tags())));
          });
        }
        return Future.succeededFuture(Math.max(1, decision.retryAfterMs()));
      }
    }
    done(Step.stop(new Outcome.Denied(plan.tags(), decision, Outcome.Connection.KEEP)));
    return Future.succeededFuture(-1L);
  }
}
