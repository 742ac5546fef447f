package dev.ratekeeper.policy.validation;

import dev.ratekeeper.policy.api.GlobalLimits;
import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import dev.ratekeeper.policy.api.UnmeterableEndpoint;
import dev.ratekeeper.policy.api.UserAssignment;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Semantic validation: every rule the CRD schema and its CEL rules cannot express (and the ones
 * they can, for policies read from files). Collects every violation, each with its field path, in
 * the order of the spec's fields; a spec it passes always compiles.
 */
public final class PolicyValidator {
  static final int MAX_USERS = 5000;
  static final int MAX_USER_ID_LENGTH = 256;

  private PolicyValidator() {}

  public static List<Violation> validate(RateLimitPolicySpec spec) {
    Violations v = new Violations();
    if (spec == null) {
      v.add("spec", "is required");
      return v.list();
    }
    IdentityValidator.validate(spec.identity, v);
    v.limit("spec.defaultMaxTokens", spec.defaultMaxTokens);
    Map<String, Integer> tiers = TierValidator.validate(spec, v);
    if (spec.defaultTier != null && v.nonEmpty("spec.defaultTier", spec.defaultTier) && !tiers.isEmpty()
        && !tiers.containsKey(spec.defaultTier)) {
      v.add("spec.defaultTier", "unknown tier " + Violations.quote(spec.defaultTier));
    }
    users(spec.users, tiers, v);
    ModelValidator.validate(spec.models, v);
    global(spec.global, v);
    if (spec.budgets != null) {
      v.range("spec.budgets.warnAtPercent", spec.budgets.warnAtPercent, 1, 100, true);
    }
    UpstreamValidator.validate(spec.upstreams, v);
    allowUnmeterable(spec.allowUnmeterable, v);
    return v.list();
  }

  private static void users(List<UserAssignment> users, Map<String, Integer> tiers, Violations v) {
    Map<String, Integer> ids = new HashMap<>();
    v.items("spec.users", users, MAX_USERS, (user, i) -> {
      String path = "spec.users[" + i + "]";
      if (v.requiredText(path + ".id", user.id) && v.maxLength(path + ".id", user.id, MAX_USER_ID_LENGTH)) {
        Integer first = ids.putIfAbsent(user.id, i);
        if (first != null) {
          v.add(path + ".id", "duplicate user " + Violations.quote(user.id) + ", already assigned at spec.users["
              + first + "]");
        }
      }
      if (v.requiredText(path + ".tier", user.tier) && !tiers.isEmpty() && !tiers.containsKey(user.tier)) {
        v.add(path + ".tier", "unknown tier " + Violations.quote(user.tier));
      }
    });
  }

  private static void allowUnmeterable(List<UnmeterableEndpoint> groups, Violations v) {
    Map<UnmeterableEndpoint, Integer> seen = new HashMap<>();
    v.items("spec.allowUnmeterable", groups, UnmeterableEndpoint.values().length, (group, i) -> {
      Integer first = seen.putIfAbsent(group, i);
      if (first != null) {
        v.add("spec.allowUnmeterable[" + i + "]", "duplicate group " + Violations.quote(group.name())
            + ", already listed at spec.allowUnmeterable[" + first + "]");
      }
    });
  }

  private static void global(GlobalLimits global, Violations v) {
    if (global == null) {
      return;
    }
    if (global.requests != null) {
      v.rate("spec.global.requests", global.requests.perMinute, global.requests.burst);
    }
    if (global.tokens != null) {
      v.rate("spec.global.tokens", global.tokens.perMinute, global.tokens.burst);
    }
    v.budget("spec.global.budget", global.budget);
  }
}
