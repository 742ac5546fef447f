package dev.ratekeeper.operator.webhook.inject;

import dev.ratekeeper.operator.webhook.inject.InjectionContext.PolicyView;
import io.fabric8.kubernetes.api.model.Pod;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Chooses the RateLimitPolicy of a pod: the one its {@code ratekeeper.dev/policy} annotation names,
 * else the namespace's only one. Anything else is a problem worded for the person who created the pod.
 */
final class PolicySelection {
  /** The chosen policy, or why none could be chosen. */
  sealed interface Result {}

  record Chosen(PolicyView policy) implements Result {}

  record Problem(String message) implements Result {}

  private PolicySelection() {}

  static Result choose(Pod pod, InjectionContext ctx) {
    Map<String, String> annotations = pod.getMetadata() == null ? null : pod.getMetadata().getAnnotations();
    String named = annotations == null ? null : annotations.get(SidecarInjector.POLICY_ANNOTATION);
    List<PolicyView> policies = ctx.policies();
    String ns = quote(ctx.namespace());
    if (named != null && !named.isBlank()) {
      String name = named.strip();
      return ctx.policy(name).<Result>map(Chosen::new).orElseGet(() -> new Problem("annotation "
          + SidecarInjector.POLICY_ANNOTATION + " names RateLimitPolicy " + quote(name) + ", but namespace " + ns
          + (policies.isEmpty() ? " has no RateLimitPolicy" : " has only " + names(policies))));
    }
    if (policies.size() == 1) {
      return new Chosen(policies.get(0));
    }
    if (policies.isEmpty()) {
      return new Problem("namespace " + ns + " has no RateLimitPolicy: create one, or remove the label "
          + SidecarInjector.INJECT_LABEL + " from the pod");
    }
    return new Problem("namespace " + ns + " has " + policies.size() + " RateLimitPolicies (" + names(policies)
        + "): name one in the pod's annotation " + SidecarInjector.POLICY_ANNOTATION);
  }

  private static String names(List<PolicyView> policies) {
    return policies.stream().map(PolicyView::name).collect(Collectors.joining(", "));
  }

  private static String quote(String s) {
    return "\"" + s + "\"";
  }
}
