package dev.ratekeeper.policy.compile;

/**
 * Prices in micro-dollars per million tokens (so "3.00" per million is 3_000_000). Missing cache
 * prices have already fallen back to the input price.
 */
public record CompiledPricing(long inputPerMillion, long outputPerMillion, long cachedInputPerMillion,
    long cacheWritePerMillion) {

  /**
   * Cost in micro-dollars, rounded up to a whole micro-dollar so that budgets are never
   * under-charged: {@code input × input + cacheWrite × cacheWrite + cacheRead × cachedInput + output × output}.
   * {@code inputTokens} are the uncached input tokens (Anthropic's {@code input_tokens}; OpenAI's
   * {@code prompt_tokens − cached_tokens}).
   */
  public long costMicros(long inputTokens, long outputTokens, long cacheReadTokens, long cacheWriteTokens) {
    long microMillionths = Math.addExact(
        Math.addExact(Math.multiplyExact(inputTokens, inputPerMillion), Math.multiplyExact(outputTokens, outputPerMillion)),
        Math.addExact(Math.multiplyExact(cacheReadTokens, cachedInputPerMillion),
            Math.multiplyExact(cacheWriteTokens, cacheWritePerMillion)));
    return Math.floorDiv(microMillionths + 999_999L, 1_000_000L);
  }
}
