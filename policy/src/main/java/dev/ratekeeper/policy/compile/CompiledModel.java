package dev.ratekeeper.policy.compile;

/**
 * Quotas, prices and fallbacks of the models matching {@code pattern}, shared by everyone under the
 * policy: {@code fallback} when the model's own quota is exhausted, {@code budgetFallback} (a cheaper
 * model) before a budget would be overspent or once spend passes {@code downgradeAtPercent}.
 */
public record CompiledModel(
    String pattern,
    Rate requests,
    Rate tokensPerMinute,
    Long tokensPerDay,
    CompiledPricing pricing,
    String fallback,
    String budgetFallback,
    Integer downgradeAtPercent,
    Integer reserveOutputPercentile) {

  /** Without a budget downgrade; reserving the whole output cap. */
  public CompiledModel(String pattern, Rate requests, Rate tokensPerMinute, Long tokensPerDay, CompiledPricing pricing,
      String fallback) {
    this(pattern, requests, tokensPerMinute, tokensPerDay, pricing, fallback, null, null, null);
  }

  public boolean isGlob() {
    return Globs.isGlob(pattern);
  }

  public boolean matches(String model) {
    return Globs.matches(pattern, model);
  }
}
