package dev.ratekeeper.sidecar.wire;

import dev.ratekeeper.policy.compile.CompiledPricing;

/**
 * Token usage a provider reported, normalized: {@code input} is uncached input (Anthropic
 * {@code input_tokens}; OpenAI {@code prompt_tokens − cached_tokens}), {@code cacheRead} the input
 * read from the prompt cache, {@code cacheWrite} the input written to it (Anthropic only).
 */
public record Usage(long input, long output, long cacheRead, long cacheWrite) {
  public static final Usage NONE = new Usage(0, 0, 0, 0);

  /** Every token the request consumed, as counted against token limits. */
  public long totalTokens() {
    return input + output + cacheRead + cacheWrite;
  }

  /** DESIGN.md's cost formula at {@code pricing}; zero when the model is unpriced. */
  public long costMicros(CompiledPricing pricing) {
    return pricing == null ? 0 : pricing.costMicros(input, output, cacheRead, cacheWrite);
  }

  public Usage withOutput(long output) {
    return new Usage(input, output, cacheRead, cacheWrite);
  }
}
