package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.compile.CompiledModel;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledTier;
import dev.ratekeeper.sidecar.identity.Caller;
import dev.ratekeeper.sidecar.wire.MeteredRequest;
import dev.ratekeeper.sidecar.wire.ProviderError;
import dev.ratekeeper.sidecar.wire.TokenEstimator;

/**
 * Works out what a metered request reserves, or why it is refused before the limiter is asked:
 * a model the tier may not use (403), an unpriced model under a budget (400), an output cap over
 * the tier's {@code maxPerRequest} (400). Pure: no I/O.
 *
 * <p>The output cap comes from {@code max_tokens}, {@code max_completion_tokens} or
 * {@code max_output_tokens}; a request that names none gets the tier's {@code maxPerRequest} written
 * into it (so the reservation is a real bound), else reserves {@code defaultMaxTokens}.
 */
public final class AdmissionPlan {
  private AdmissionPlan() {}

  /** Either a reservation or the error to answer. */
  public sealed interface Result permits Planned, Refused {}

  /** What to reserve for the request. */
  public record Planned(CompiledTier tier, CompiledModel model, long inputEstimate, long outputCap, long tokens,
      long costMicros) implements Result {}

  public record Refused(ProviderError error) implements Result {}

  public static Result plan(CompiledPolicy policy, Caller caller, MeteredRequest request) {
    CompiledTier tier = policy.tier(caller.tier()).orElseThrow();
    String model = request.model();
    if (!tier.allowsModel(model)) {
      return refuse(ProviderError.Kind.FORBIDDEN, "model \"" + model + "\" is not available to tier \""
          + tier.name() + "\" (allowed: " + String.join(", ", tier.models()) + ")");
    }
    CompiledModel entry = policy.model(model).orElse(null);
    boolean budgeted = tier.budget() != null || policy.global().budget() != null
        || (tier.run() != null && tier.run().budgetMicros() != null);
    if ((budgeted || policy.refuseUnpricedModels()) && (entry == null || entry.pricing() == null)) {
      return refuse(ProviderError.Kind.INVALID_REQUEST, "model \"" + model + "\" has no pricing in policy "
          + policy.id() + (budgeted ? ", so its cost cannot be charged to a budget"
          : ", and the policy refuses unpriced models (budgets.refuseUnpricedModels)"));
    }
    long cap;
    Long maxPerRequest = tier.maxPerRequest();
    if (!request.endpoint().producesOutput()) {
      cap = 0;
    } else if (request.outputCap() != null) {
      cap = request.outputCap();
      if (maxPerRequest != null && cap > maxPerRequest) {
        return refuse(ProviderError.Kind.INVALID_REQUEST, "output cap " + cap + " exceeds tier \"" + tier.name()
            + "\" maxPerRequest " + maxPerRequest);
      }
    } else if (maxPerRequest != null) {
      request.setOutputCap(maxPerRequest);
      cap = maxPerRequest;
    } else {
      cap = policy.defaultMaxTokens();
    }
    long input = TokenEstimator.estimateInput(request.endpoint().format(), model, request.body());
    try {
      long cost = entry == null || entry.pricing() == null ? 0 : entry.pricing().costMicros(input, cap, 0, 0);
      return new Planned(tier, entry, input, cap, Math.addExact(input, cap), cost);
    } catch (ArithmeticException overflow) {
      // a cap such as 2^63 - 1: its reservation (tokens or micro-dollars) does not fit in a long
      return refuse(ProviderError.Kind.INVALID_REQUEST, "output cap " + cap + " is too large to reserve");
    }
  }

  private static Refused refuse(ProviderError.Kind kind, String message) {
    return new Refused(ProviderError.of(kind, message));
  }
}
