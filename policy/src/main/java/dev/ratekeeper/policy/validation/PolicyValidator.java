package dev.ratekeeper.policy.validation;

import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import java.util.ArrayList;
import java.util.List;

/**
 * Semantic validation: every rule the CRD schema and its CEL rules cannot express (and the ones
 * they can, for policies read from files). Collects every violation with its field path.
 */
public final class PolicyValidator {
  private PolicyValidator() {}

  public static List<Violation> validate(RateLimitPolicySpec spec) {
    List<Violation> out = new ArrayList<>();
    if (spec == null) {
      out.add(new Violation("spec", "is required"));
      return out;
    }
    if (spec.tiers == null || spec.tiers.isEmpty()) {
      out.add(new Violation("spec.tiers", "at least one tier is required"));
    }
    return out;
  }
}
