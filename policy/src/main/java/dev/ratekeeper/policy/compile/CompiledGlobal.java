package dev.ratekeeper.policy.compile;

/** The org-wide provider quota and spend cap. Null parts are unlimited. */
public record CompiledGlobal(Rate requests, Rate tokensPerMinute, CompiledBudget budget) {
  public static final CompiledGlobal UNLIMITED = new CompiledGlobal(null, null, null);
}
