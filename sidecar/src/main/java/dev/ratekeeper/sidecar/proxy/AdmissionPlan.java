package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.compile.CompiledModel;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledTier;
import dev.ratekeeper.sidecar.identity.Caller;
import dev.ratekeeper.sidecar.wire.AzureDeployments;
import dev.ratekeeper.sidecar.wire.MeteredRequest;
import dev.ratekeeper.sidecar.wire.ProviderError;
import java.util.List;
import java.util.Objects;

/**
 * Works out what a metered request reserves, or why it is refused before the limiter is asked:
 * a model the tier may not use (403), an unpriced model under a budget (400), an output cap over
 * the tier's {@code maxPerRequest} (400), a billed part it cannot meter (Azure's {@code data_sources})
 * unless {@code allowUnmeterable} lists its group (400). Pure: no I/O.
 *
 * <p>The output cap comes from {@code max_tokens}, {@code max_completion_tokens} or
 * {@code max_output_tokens}; a request that names none gets the tier's {@code maxPerRequest} written
 * into it (so the reservation is a real bound: the plan's request carries that edit), else reserves
 * {@code defaultMaxTokens}. A call that
 * asks for several answers ({@code n}, {@code best_of}) reserves the cap once per answer, and that
 * product is what {@code maxPerRequest} bounds.
 *
 * <p>An Anthropic message batch is planned as the sum of its requests: each is checked as a message
 * call (model allow-list, pricing, output cap); all must be governed by the same model entry (one
 * reservation charges one model's quotas); tokens are summed and the cost is the batch price,
 * {@value #BATCH_PRICE_PERCENT} % of the sum. The provider reports a batch's usage only later, in its
 * results, so a batch is settled at its reservation.
 */
public final class AdmissionPlan {
  /** Both providers bill batch requests at half the list price. */
  static final int BATCH_PRICE_PERCENT = 50;
  /** Longest model name quoted back in an error message. */
  static final int MAX_QUOTED = 200;

  private AdmissionPlan() {}

  /** Either a reservation or the error to answer. */
  public sealed interface Result permits Planned, Refused {}

  /**
   * What to reserve for the request. {@code request}: the call as it will be forwarded (with the
   * output cap written into it when it named none); {@code outputCap}: the output reserved in all
   * (cap × answers); {@code settleAtReservation}: the provider's usage is not in the answer (batches).
   */
  public record Planned(MeteredRequest request, CompiledTier tier, CompiledModel model, long inputEstimate,
      long outputCap, long tokens, long costMicros, boolean settleAtReservation) implements Result {}

  public record Refused(ProviderError error) implements Result {}

  public static Result plan(CompiledPolicy policy, Caller caller, MeteredRequest request) {
    return request.endpoint().batch() ? batch(policy, caller, request) : call(policy, caller, request);
  }

  private static Result batch(CompiledPolicy policy, Caller caller, MeteredRequest batch) {
    List<MeteredRequest> parts = batch.parts();
    CompiledTier tier = policy.tier(caller.tier()).orElseThrow();
    CompiledModel entry = null;
    long input = 0;
    long output = 0;
    long cost = 0;
    List<MeteredRequest> planned = new java.util.ArrayList<>(parts.size());
    for (int i = 0; i < parts.size(); i++) {
      MeteredRequest part = parts.get(i);
      Result one = call(policy, caller, part);
      if (one instanceof Refused refused) {
        return refuse(refused.error().kind(), "requests[" + i + "]: " + refused.error().message());
      }
      Planned onePart = (Planned) one;
      if (i > 0 && !Objects.equals(onePart.model(), entry)) {
        return refuse(ProviderError.Kind.INVALID_REQUEST, "requests[" + i + "]: model \"" + quote(part.model())
            + "\" differs from requests[0]'s \"" + quote(parts.get(0).model())
            + "\"; a batch through Ratekeeper uses one model");
      }
      entry = onePart.model();
      planned.add(onePart.request());
      try {
        input = Math.addExact(input, onePart.inputEstimate());
        output = Math.addExact(output, onePart.outputCap());
        cost = Math.addExact(cost, onePart.costMicros());
      } catch (ArithmeticException overflow) {
        return refuse(ProviderError.Kind.INVALID_REQUEST, "batch is too large to reserve");
      }
    }
    long batchCost = cost / 100 * BATCH_PRICE_PERCENT + (cost % 100 * BATCH_PRICE_PERCENT + 99) / 100;
    try {
      return new Planned(batch.withParts(planned), tier, entry, input, output, Math.addExact(input, output),
          batchCost, true);
    } catch (ArithmeticException overflow) {
      return refuse(ProviderError.Kind.INVALID_REQUEST, "batch is too large to reserve");
    }
  }

  private static Result call(CompiledPolicy policy, Caller caller, MeteredRequest request) {
    if (request.unmeterable() != null && !policy.allows(request.unmeterable())) {
      return new Refused(AzureDeployments.onYourDataRefused());
    }
    CompiledTier tier = policy.tier(caller.tier()).orElseThrow();
    String model = request.model();
    if (!tier.allowsModel(model)) {
      return refuse(ProviderError.Kind.FORBIDDEN, "model \"" + quote(model) + "\" is not available to tier \""
          + tier.name() + "\" (allowed: " + String.join(", ", tier.models()) + ")");
    }
    CompiledModel entry = policy.model(model).orElse(null);
    boolean budgeted = tier.budget() != null || policy.global().budget() != null
        || (tier.run() != null && tier.run().budgetMicros() != null);
    if ((budgeted || policy.refuseUnpricedModels()) && (entry == null || entry.pricing() == null)) {
      return refuse(ProviderError.Kind.INVALID_REQUEST, "model \"" + quote(model) + "\" has no pricing in policy "
          + policy.id() + (budgeted ? ", so its cost cannot be charged to a budget"
          : ", and the policy refuses unpriced models (budgets.refuseUnpricedModels)"));
    }
    long cap;
    int choices = request.choices();
    Long maxPerRequest = tier.maxPerRequest();
    try {
      if (!request.endpoint().producesOutput()) {
        cap = 0;
      } else if (request.outputCap() != null) {
        cap = Math.multiplyExact(request.outputCap(), choices);
        if (maxPerRequest != null && cap > maxPerRequest) {
          return refuse(ProviderError.Kind.INVALID_REQUEST, "output cap " + request.outputCap()
              + (choices > 1 ? " × " + choices + " answers (n, best_of)" : "") + " exceeds tier \"" + tier.name()
              + "\" maxPerRequest " + maxPerRequest);
        }
      } else if (maxPerRequest != null) {
        long each = maxPerRequest / choices;
        if (each < 1) {
          return refuse(ProviderError.Kind.INVALID_REQUEST, choices + " answers (n, best_of) exceed tier \""
              + tier.name() + "\" maxPerRequest " + maxPerRequest);
        }
        request = request.withOutputCap(each);
        cap = each * choices;
      } else {
        cap = Math.multiplyExact(policy.defaultMaxTokens(), choices);
      }
      long input = request.inputEstimate();
      long cost = entry == null || entry.pricing() == null ? 0 : entry.pricing().costMicros(input, cap, 0, 0);
      return new Planned(request, tier, entry, input, cap, Math.addExact(input, cap), cost, false);
    } catch (ArithmeticException overflow) {
      // a cap such as 2^63 - 1: its reservation (tokens or micro-dollars) does not fit in a long
      return refuse(ProviderError.Kind.INVALID_REQUEST, "output cap " + request.outputCap() + " is too large to reserve");
    }
  }

  /** A client's model name as quoted back: at most {@value #MAX_QUOTED} characters. */
  static String quote(String model) {
    return model.length() <= MAX_QUOTED ? model : model.substring(0, MAX_QUOTED) + "…";
  }

  private static Refused refuse(ProviderError.Kind kind, String message) {
    return new Refused(ProviderError.of(kind, message));
  }
}
