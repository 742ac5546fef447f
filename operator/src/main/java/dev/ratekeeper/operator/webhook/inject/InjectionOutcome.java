package dev.ratekeeper.operator.webhook.inject;

import dev.ratekeeper.policy.compile.PolicyId;
import io.fabric8.kubernetes.api.model.Pod;
import java.util.List;

/** What {@link SidecarInjector#inject} decided: a mutated pod, an unchanged pod, or a refusal. */
public sealed interface InjectionOutcome {

  /** Warnings for the user (admission warnings: kubectl prints them). */
  List<String> warnings();

  /**
   * The sidecar was added, or (policy null) the pod was pointed at the shared gateway; {@code pod} is a
   * new object, the original is untouched.
   */
  record Injected(Pod pod, PolicyId policy, List<String> warnings) implements InjectionOutcome {
    public Injected {
      warnings = List.copyOf(warnings);
    }
  }

  /** The pod is admitted unchanged. */
  record Skipped(SkipReason reason, String detail, List<String> warnings) implements InjectionOutcome {
    public Skipped {
      warnings = List.copyOf(warnings);
    }
  }

  /** The pod must not be admitted; {@code message} says why and what to do. */
  record Refused(String message) implements InjectionOutcome {
    @Override
    public List<String> warnings() {
      return List.of();
    }
  }

  /** Why a pod was left alone. */
  enum SkipReason {
    /** No {@code ratekeeper.dev/inject: "true"} label. */
    NotOptedIn,
    /** The status annotation or the sidecar container is already there. */
    AlreadyInjected,
    /** No single policy applies and onMissingPolicy is AdmitUninjected. */
    NoPolicy,
    /** The pod asks for the shared gateway, none is configured and onMissingPolicy is AdmitUninjected. */
    NoGateway
  }
}
