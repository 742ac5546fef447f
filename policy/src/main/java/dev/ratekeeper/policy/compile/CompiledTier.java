package dev.ratekeeper.policy.compile;

import java.util.List;

/**
 * A tier in runtime form. Per-user limits ({@code requests}, {@code tokensPerMinute},
 * {@code tokensPerHour}, {@code tokensPerDay}, {@code concurrency}, {@code budget}) apply to each user
 * separately; {@code globalShare} caps all users of the tier together. Null means unlimited.
 */
public record CompiledTier(
    String name,
    int priority,
    Rate requests,
    Rate tokensPerMinute,
    Long tokensPerHour,
    Long tokensPerDay,
    Long maxPerRequest,
    Integer concurrency,
    CompiledBudget budget,
    List<String> models,
    int globalShare,
    long maxQueueWaitMs,
    CompiledRun run) {

  /** Without run limits. */
  public CompiledTier(String name, int priority, Rate requests, Rate tokensPerMinute, Long tokensPerHour,
      Long tokensPerDay, Long maxPerRequest, Integer concurrency, CompiledBudget budget, List<String> models,
      int globalShare, long maxQueueWaitMs) {
    this(name, priority, requests, tokensPerMinute, tokensPerHour, tokensPerDay, maxPerRequest, concurrency, budget,
        models, globalShare, maxQueueWaitMs, null);
  }

  /**
   * Whether this tier may call {@code model}; an empty allow-list allows every model. A dated alias
   * ({@link ModelNames}) is allowed when its undated name is.
   */
  public boolean allowsModel(String model) {
    if (models.isEmpty() || models.stream().anyMatch(glob -> Globs.matches(glob, model))) {
      return true;
    }
    String undated = ModelNames.undated(model);
    return undated != null && models.stream().anyMatch(glob -> Globs.matches(glob, undated));
  }
}
