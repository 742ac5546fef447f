package dev.ratekeeper.policy.validation;

import dev.ratekeeper.policy.api.ModelQuota;
import dev.ratekeeper.policy.api.Pricing;
import dev.ratekeeper.policy.compile.Globs;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Rules of {@code spec.models[]}: names, quotas, prices, and fallbacks that resolve and do not loop. */
final class ModelValidator {
  static final int MAX_MODELS = 64;
  static final int MAX_NAME_LENGTH = 128;

  private ModelValidator() {}

  static void validate(List<ModelQuota> models, Violations v) {
    if (models == null) {
      return;
    }
    Map<String, Integer> names = new HashMap<>();
    v.items("spec.models", models, MAX_MODELS, (model, i) -> {
      String path = "spec.models[" + i + "]";
      if (v.requiredText(path + ".name", model.name) && v.maxLength(path + ".name", model.name, MAX_NAME_LENGTH)) {
        Integer first = names.putIfAbsent(model.name, i);
        if (first != null) {
          v.add(path + ".name", "duplicate model " + Violations.quote(model.name) + ", already defined at spec.models["
              + first + "]");
        }
      }
      if (model.requests != null) {
        v.rate(path + ".requests", model.requests.perMinute, model.requests.burst);
      }
      if (model.tokens != null) {
        v.rate(path + ".tokens", model.tokens.perMinute, model.tokens.burst);
        v.limit(path + ".tokens.perDay", model.tokens.perDay);
      }
      pricing(path + ".pricing", model.pricing, v);
      v.range(path + ".reserveOutputPercentile", model.reserveOutputPercentile, 50, 100, true);
    });
    fallbacks(models, v);
    budgetFallbacks(models, v);
  }

  /**
   * A budget fallback names a model some other entry governs, not a glob, and that entry has prices
   * (a downgrade is about money); downgradeAtPercent needs one and is 1-100.
   */
  private static void budgetFallbacks(List<ModelQuota> models, Violations v) {
    List<Integer> lookupOrder = lookupOrder(models);
    for (int i = 0; i < models.size(); i++) {
      ModelQuota model = models.get(i);
      if (model == null) {
        continue;
      }
      String path = "spec.models[" + i + "]";
      boolean percentOk = v.range(path + ".downgradeAtPercent", model.downgradeAtPercent, 1, 100, true);
      if (model.budgetFallback == null) {
        if (model.downgradeAtPercent != null && percentOk) {
          v.add(path + ".downgradeAtPercent", "needs budgetFallback: the model to downgrade to");
        }
        continue;
      }
      String target = model.budgetFallback;
      if (!v.nonEmpty(path + ".budgetFallback", target) || !v.maxLength(path + ".budgetFallback", target,
          MAX_NAME_LENGTH)) {
        continue;
      }
      if (Globs.isGlob(target)) {
        v.add(path + ".budgetFallback", Violations.quote(target)
            + " is a glob; a fallback must be the model name requests are rewritten to");
        continue;
      }
      Integer governing = governing(models, lookupOrder, target);
      if (governing == null) {
        v.add(path + ".budgetFallback", "unknown model " + Violations.quote(target));
      } else if (governing == i) {
        v.add(path + ".budgetFallback", Violations.quote(target) + " is governed by this entry itself");
      } else if (models.get(governing).pricing == null) {
        v.add(path + ".budgetFallback", Violations.quote(target) + " has no pricing (spec.models[" + governing
            + "]); a budget downgrade needs a priced model");
      }
    }
  }

  private static void pricing(String path, Pricing pricing, Violations v) {
    if (pricing == null) {
      return;
    }
    v.money(path + ".inputPerMillion", pricing.inputPerMillion, true);
    v.money(path + ".outputPerMillion", pricing.outputPerMillion, true);
    v.money(path + ".cachedInputPerMillion", pricing.cachedInputPerMillion, false);
    v.money(path + ".cacheWritePerMillion", pricing.cacheWritePerMillion, false);
  }

  /**
   * A fallback must be a model name that some entry governs (the same lookup sidecars make: exact
   * names first, then the first matching glob), and following fallbacks must never come back to an
   * entry already passed: each cycle is reported once, at its first entry.
   */
  private static void fallbacks(List<ModelQuota> models, Violations v) {
    List<Integer> lookupOrder = lookupOrder(models);
    Map<Integer, Integer> next = new LinkedHashMap<>();
    for (int i = 0; i < models.size(); i++) {
      ModelQuota model = models.get(i);
      if (model == null || model.fallback == null) {
        continue;
      }
      String path = "spec.models[" + i + "].fallback";
      if (!v.nonEmpty(path, model.fallback) || !v.maxLength(path, model.fallback, MAX_NAME_LENGTH)) {
        continue;
      }
      if (Globs.isGlob(model.fallback)) {
        v.add(path, Violations.quote(model.fallback)
            + " is a glob; a fallback must be the model name requests are rewritten to");
        continue;
      }
      Integer target = governing(models, lookupOrder, model.fallback);
      if (target == null) {
        v.add(path, "unknown model " + Violations.quote(model.fallback));
      } else {
        next.put(i, target);
      }
    }
    reportCycles(models, next, v);
  }

  /** Indexes of entries in the order sidecars try them: exact names as listed, then globs as listed. */
  private static List<Integer> lookupOrder(List<ModelQuota> models) {
    List<Integer> exact = new ArrayList<>();
    List<Integer> globs = new ArrayList<>();
    for (int i = 0; i < models.size(); i++) {
      ModelQuota model = models.get(i);
      if (model != null && model.name != null && !model.name.isEmpty()) {
        (Globs.isGlob(model.name) ? globs : exact).add(i);
      }
    }
    exact.addAll(globs);
    return exact;
  }

  private static Integer governing(List<ModelQuota> models, List<Integer> lookupOrder, String model) {
    for (int i : lookupOrder) {
      if (Globs.matches(models.get(i).name, model)) {
        return i;
      }
    }
    return null;
  }

  private static void reportCycles(List<ModelQuota> models, Map<Integer, Integer> next, Violations v) {
    Map<Integer, Boolean> settled = new HashMap<>();
    for (int start : next.keySet()) {
      List<Integer> walk = new ArrayList<>();
      Integer at = start;
      while (at != null && !settled.containsKey(at) && !walk.contains(at)) {
        walk.add(at);
        at = next.get(at);
      }
      if (at != null && walk.contains(at)) {
        List<Integer> cycle = walk.subList(walk.indexOf(at), walk.size());
        int first = cycle.stream().min(Integer::compare).orElseThrow();
        v.add("spec.models[" + first + "].fallback", "fallback cycle " + describe(models, cycle, first, next));
      }
      walk.forEach(i -> settled.put(i, Boolean.TRUE));
    }
  }

  /** {@code a -> b -> a}; a hop whose fallback is governed by a glob says so: {@code x (matched by x-*)}. */
  private static String describe(List<ModelQuota> models, List<Integer> cycle, int first, Map<Integer, Integer> next) {
    StringBuilder text = new StringBuilder(models.get(first).name);
    int at = first;
    do {
      String fallback = models.get(at).fallback;
      int target = next.get(at);
      text.append(" -> ").append(fallback);
      if (!fallback.equals(models.get(target).name)) {
        text.append(" (matched by ").append(models.get(target).name).append(')');
      }
      at = target;
    } while (at != first);
    return text.toString();
  }
}
