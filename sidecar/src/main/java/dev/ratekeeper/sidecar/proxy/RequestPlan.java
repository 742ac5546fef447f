package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.identity.Caller;
import dev.ratekeeper.sidecar.metrics.MetricLabels;
import dev.ratekeeper.sidecar.wire.MeteredRequest;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What an admitted metered call is, as a value: the route, the caller, the reservation and the
 * request to forward ({@link AdmissionPlan.Planned#request()}, with its edits), and the headers that
 * say what was rewritten. Admission's ways out of a denial (model fallback, budget downgrade, clamp)
 * each make a new plan; nothing changes one in place, so the forwarder and the settlement read
 * exactly what was admitted.
 *
 * @param fallbacks model rewrites so far (a chain is followed at most the model list's length)
 * @param priority the queue priority (the tier's, or less important as the call asks)
 * @param run the agent's run ({@code identity.runHeader}); null outside any run
 * @param shadowCooldown in Shadow mode: a cooldown would have answered this call
 */
record RequestPlan(CompiledPolicy policy, Route route, Caller caller, AdmissionPlan.Planned planned,
    Map<String, String> rewrites, int fallbacks, boolean clamped, int priority, String run, boolean shadowCooldown,
    String modelLabel) {

  static final String FALLBACK_HEADER = "x-ratekeeper-model-fallback";
  static final String CLAMPED_HEADER = "x-ratekeeper-max-tokens-clamped";

  RequestPlan {
    rewrites = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(rewrites));
  }

  static RequestPlan first(CompiledPolicy policy, Route route, Caller caller, AdmissionPlan.Planned planned,
      int priority, String run, boolean shadowCooldown) {
    return new RequestPlan(policy, route, caller, planned, Map.of(), 0, false, priority, run, shadowCooldown,
        MetricLabels.model(policy, planned.request().model()));
  }

  MeteredRequest request() {
    return planned.request();
  }

  /** The call rewritten to another model, planned again as {@code next}. */
  RequestPlan fallenBackTo(AdmissionPlan.Planned next) {
    MeteredRequest request = next.request();
    return new RequestPlan(policy, route, caller, next,
        with(FALLBACK_HEADER, request.originalModel() + " -> " + request.model()), fallbacks + 1, clamped, priority,
        run, shadowCooldown, MetricLabels.model(policy, request.model()));
  }

  /** The call's output cap lowered to {@code each} per answer, planned again as {@code next}. */
  RequestPlan clampedTo(AdmissionPlan.Planned next, long each) {
    return new RequestPlan(policy, route, caller, next, with(CLAMPED_HEADER, Long.toString(each)), fallbacks, true,
        priority, run, shadowCooldown, modelLabel);
  }

  /** The headers an allowed answer carries besides the decision's: the rewrites, in order. */
  private Map<String, String> with(String header, String value) {
    Map<String, String> next = new LinkedHashMap<>(rewrites);
    next.put(header, value);
    return next;
  }

  Outcome.Tags tags() {
    return new Outcome.Tags(route.upstream().format(), route.upstream().name(), modelLabel, caller.tier());
  }
}
