package dev.ratekeeper.sidecar.metrics;

import dev.ratekeeper.policy.compile.CompiledModel;
import dev.ratekeeper.policy.compile.CompiledPolicy;

/**
 * Label values come only from the policy, never from a client: a model is labelled with the
 * policy's model entry that governs it (its name or glob, e.g. {@code claude-haiku-*}), else
 * {@value #OTHER}. Tiers and upstreams are the policy's by construction. So the number of series
 * is bounded by the policy, whatever names clients send.
 */
public final class MetricLabels {
  public static final String OTHER = "other";

  private MetricLabels() {}

  public static String model(CompiledPolicy policy, String model) {
    if (model == null) {
      return OTHER;
    }
    return policy.model(model).map(CompiledModel::pattern).orElse(OTHER);
  }
}
