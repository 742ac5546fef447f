package dev.ratekeeper.sidecar.limiter;

import dev.ratekeeper.policy.compile.CompiledModel;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledTier;
import dev.ratekeeper.policy.keys.RedisKeys;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The counter keys of one policy revision, each built once ({@link RedisKeys} names them, docs/redis-keys.md):
 * the global, tier-share and model keys with the revision, a user's keys on that user's first call
 * (for at most {@value #MAX_USERS} users at once; the set starts again when full). Every request of
 * a user then names its counters with the same {@code String} objects, so hashing them and comparing
 * them in the in-process store's map costs nothing, and no key is concatenated per request.
 *
 * <p>Held per policy object ({@link #of}): the current revision and the one before, so requests
 * finishing under the previous revision do not evict the current one. Thread-safe.
 */
public final class PolicyKeys {
  /** Users whose keys are kept; past this the set is cleared (keys are rebuilt on next use, never wrong). */
  static final int MAX_USERS = 4096;

  private static volatile PolicyKeys current;
  private static volatile PolicyKeys previous;

  private final CompiledPolicy policy;
  private final RedisKeys keys;
  private final Map<String, String[]> tiers = new HashMap<>();
  private final Map<String, String[]> models = new HashMap<>();
  final String globalRequests;
  final String globalTokens;
  final String globalBudget;
  private final Map<String, UserKeys> users = new ConcurrentHashMap<>();
  private volatile Stats stats;

  private PolicyKeys(CompiledPolicy policy) {
    this.policy = policy;
    this.keys = new RedisKeys(policy.id());
    for (CompiledTier tier : policy.tiers()) {
      tiers.put(tier.name(), new String[] {keys.tier(tier.name(), LimitPlan.SHARE_REQUESTS),
          keys.tier(tier.name(), LimitPlan.SHARE_TOKENS)});
    }
    for (CompiledModel model : policy.models()) {
      models.put(model.pattern(), modelKeys(keys, model.pattern()));
    }
    globalRequests = keys.global(LimitPlan.REQUESTS);
    globalTokens = keys.global(LimitPlan.TOKENS_PER_MINUTE);
    globalBudget = keys.global(LimitPlan.BUDGET);
  }

  /** The keys of {@code policy} (compared by identity: a revision is one object while it is in force). */
  public static PolicyKeys of(CompiledPolicy policy) {
    PolicyKeys found = current;
    if (found != null && found.policy == policy) {
      return found;
    }
    PolicyKeys before = previous;
    if (before != null && before.policy == policy) {
      return before;
    }
    PolicyKeys made = new PolicyKeys(policy);
    previous = found;
    current = made;
    return made;
  }

  public RedisKeys redisKeys() {
    return keys;
  }

  /** {@link RedisKeys#user}{@code (user, dimension)} for the counter suffixes {@link LimitPlan} uses. */
  UserKeys user(String user) {
    UserKeys found = users.get(user);
    if (found == null) {
      if (users.size() >= MAX_USERS) {
        users.clear();
      }
      found = new UserKeys(keys, user);
      users.put(user, found);
    }
    return found;
  }

  /** The tier's share keys of the global request and token rates, {@link RedisKeys#tier}. */
  String[] tierShares(String tier) {
    String[] found = tiers.get(tier);
    return found != null ? found : new String[] {keys.tier(tier, LimitPlan.SHARE_REQUESTS),
        keys.tier(tier, LimitPlan.SHARE_TOKENS)};
  }

  /** The model entry's request, token-rate and day-quota keys, {@link RedisKeys#model}. */
  String[] model(String pattern) {
    String[] found = models.get(pattern);
    return found != null ? found : modelKeys(keys, pattern);
  }

  private static String[] modelKeys(RedisKeys keys, String pattern) {
    return new String[] {keys.model(pattern, LimitPlan.REQUESTS), keys.model(pattern, LimitPlan.TOKENS_PER_MINUTE),
        keys.model(pattern, LimitPlan.TOKENS_PER_DAY)};
  }

  /** The usage statistics keys of the period {@code periodId}, built once per period. */
  public Stats stats(String periodId) {
    Stats found = stats;
    if (found == null || !found.periodId.equals(periodId)) {
      found = Stats.of(periodId, keys.stats(periodId), keys.topUsers(periodId), keys.topUserTokens(periodId),
          keys.topUserTiers(periodId));
      stats = found;
    }
    return found;
  }

  /**
   * The statistics keys of one period ({@link RedisKeys#stats}, {@link RedisKeys#topUsers} and the rest),
   * with the KEYS lists the scripts take them as, built once per period.
   *
   * @param admitKeys KEYS[1] of admit.lua: {@code stats}
   * @param scriptKeys KEYS[1..4] of reconcile.lua (KEYS[2..5] of settle.lua): stats, top users, their
   *     tiers, their tokens
   */
  public record Stats(String periodId, String stats, String topUsers, String topUserTokens, String topUserTiers,
      List<String> admitKeys, List<String> scriptKeys) {
    static Stats of(String periodId, String stats, String topUsers, String topUserTokens, String topUserTiers) {
      return new Stats(periodId, stats, topUsers, topUserTokens, topUserTiers, List.of(stats),
          List.of(stats, topUsers, topUserTiers, topUserTokens));
    }
  }

  /** One user's counter keys. */
  static final class UserKeys {
    /** {@code rk:{ns/name}:u:<encoded user>:}: a run's keys continue it. */
    final String prefix;
    final String requests;
    final String tokensPerMinute;
    final String tokensPerHour;
    final String tokensPerDay;
    final String concurrency;
    final String budget;

    UserKeys(RedisKeys keys, String user) {
      prefix = keys.user(user, "");
      requests = prefix + LimitPlan.REQUESTS;
      tokensPerMinute = prefix + LimitPlan.TOKENS_PER_MINUTE;
      tokensPerHour = prefix + LimitPlan.TOKENS_PER_HOUR;
      tokensPerDay = prefix + LimitPlan.TOKENS_PER_DAY;
      concurrency = prefix + LimitPlan.CONCURRENCY;
      budget = prefix + LimitPlan.BUDGET;
    }
  }
}
