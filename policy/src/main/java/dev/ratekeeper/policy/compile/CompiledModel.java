package dev.ratekeeper.policy.compile;

/** Quotas, prices and fallback of the models matching {@code pattern}, shared by everyone under the policy. */
public record CompiledModel(
    String pattern,
    Rate requests,
    Rate tokensPerMinute,
    Long tokensPerDay,
    CompiledPricing pricing,
    String fallback) {

  public boolean isGlob() {
    return Globs.isGlob(pattern);
  }

  public boolean matches(String model) {
    return Globs.matches(pattern, model);
  }
}
