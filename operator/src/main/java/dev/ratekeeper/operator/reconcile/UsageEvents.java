package dev.ratekeeper.operator.reconcile;

import dev.ratekeeper.operator.status.Announcement;
import dev.ratekeeper.operator.status.TierTraffic;
import dev.ratekeeper.operator.status.UsageCounters;
import dev.ratekeeper.policy.api.Money;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledTier;
import dev.ratekeeper.policy.periods.CalendarPeriod;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which usage Events a policy deserves now, rate-limited so that a busy fleet makes a handful of
 * Events, not one per request or per refresh. Pure apart from what it remembers per policy; the
 * caller passes the time.
 *
 * <ul>
 *   <li>{@value #BUDGET_WARNING} (Warning): the global budget, or a top spender's tier budget,
 *       crossed {@code budgets.warnAtPercent} this period; {@value #BUDGET_EXHAUSTED} when it is
 *       spent. Once per budget, user and period (an operator restart may repeat one once).
 *   <li>{@value #TIER_THROTTLED} (Warning): over a window of at least {@link #WINDOW}, at least
 *       {@link #HEAVY_PERCENT} % of a tier's calls (and at least {@link #MIN_THROTTLED}) were
 *       answered 429. At most one per tier every {@link #TIER_EVENT_INTERVAL}.
 * </ul>
 */
final class UsageEvents {
  static final String BUDGET_WARNING = "BudgetWarning";
  static final String BUDGET_EXHAUSTED = "BudgetExhausted";
  static final String TIER_THROTTLED = "TierThrottled";
  static final Duration WINDOW = Duration.ofMinutes(1);
  static final Duration TIER_EVENT_INTERVAL = Duration.ofMinutes(10);
  static final int HEAVY_PERCENT = 50;
  static final long MIN_THROTTLED = 10;

  /** Per policy: what was announced and where each tier's window started. */
  private static final class Memory {
    final Map<String, String> budgetLevel = new ConcurrentHashMap<>();
    final Map<String, Window> windows = new ConcurrentHashMap<>();
    final Map<String, Instant> lastTierEvent = new ConcurrentHashMap<>();
  }

  private record Window(Instant start, TierTraffic at) {}

  private final Map<String, Memory> policies = new ConcurrentHashMap<>();

  /**
   * @param policyKey the policy's namespace/name
   * @param policy the enforced revision (its budgets, tiers and warnAtPercent)
   * @param periodId the statistics period {@code usage} and {@code traffic} are of
   * @param traffic per tier; tiers absent count nothing
   */
  List<Announcement> observe(String policyKey, CompiledPolicy policy, String periodId, UsageCounters usage,
      Map<String, TierTraffic> traffic, Instant now) {
    Memory memory = policies.computeIfAbsent(policyKey, k -> new Memory());
    List<Announcement> out = new ArrayList<>();
    int warnAt = policy.warnAtPercent();
    if (policy.global() != null && policy.global().budget() != null) {
      budget(memory, out, "global", "the policy's global budget", usage.spendMicros(),
          policy.global().budget().microUsd(), warnAt, periodId, "global.budget");
    }
    CalendarPeriod statsPeriod = policy.global() != null && policy.global().budget() != null
        ? CalendarPeriod.of(policy.global().budget().period()) : CalendarPeriod.MONTH;
    for (UsageCounters.Spender spender : usage.topSpenders()) {
      CompiledTier tier = spender.tier() == null ? null : policy.tier(spender.tier()).orElse(null);
      // the top spenders' spend is per statistics period: comparable with tier budgets of that period only
      if (tier != null && tier.budget() != null && CalendarPeriod.of(tier.budget().period()) == statsPeriod) {
        budget(memory, out, "user:" + spender.user(), "user \"" + spender.user() + "\" (tier " + tier.name()
            + ")", spender.spendMicros(), tier.budget().microUsd(), warnAt, periodId, "budget");
      }
    }
    for (CompiledTier tier : policy.tiers()) {
      tier(memory, out, tier.name(), traffic.getOrDefault(tier.name(), TierTraffic.NONE), now);
    }
    return out;
  }

  /** The policy is gone: forget it. */
  void forget(String policyKey) {
    policies.remove(policyKey);
  }

  private static void budget(Memory memory, List<Announcement> out, String key, String whose, long spent, long limit,
      int warnAt, String periodId, String dimension) {
    if (limit <= 0) {
      return;
    }
    String level = spent >= limit ? "exhausted" : spent * 100 >= (long) warnAt * limit ? "warned" : null;
    if (level == null) {
      return;
    }
    String announced = memory.budgetLevel.get(key);
    String mark = periodId + "/" + level;
    if (mark.equals(announced) || (announced != null && announced.equals(periodId + "/exhausted"))) {
      return;
    }
    memory.budgetLevel.put(key, mark);
    long percent = spent * 100 / limit;
    String figures = whose + " has spent $" + Money.format(spent) + " of $" + Money.format(limit) + " (" + percent
        + "%) in " + periodId;
    if (level.equals("exhausted")) {
      out.add(new Announcement(Announcement.WARNING, BUDGET_EXHAUSTED, figures + ": calls are answered 429 ("
          + dimension + ") until the period ends. Raise the budget in the policy to let them through."));
    } else {
      out.add(new Announcement(Announcement.WARNING, BUDGET_WARNING, figures + ", past budgets.warnAtPercent ("
          + warnAt + "%). Once it is spent, calls are answered 429 (" + dimension + ")."));
    }
  }

  private static void tier(Memory memory, List<Announcement> out, String tier, TierTraffic now, Instant at) {
    Window window = memory.windows.get(tier);
    if (window == null || now.requests() < window.at().requests() || now.throttled() < window.at().throttled()) {
      // first look, or a new statistics period (counts restarted): start counting from here
      memory.windows.put(tier, new Window(at, now));
      return;
    }
    Duration age = Duration.between(window.start(), at);
    if (age.compareTo(WINDOW) < 0) {
      return;
    }
    memory.windows.put(tier, new Window(at, now));
    long throttled = now.throttled() - window.at().throttled();
    long calls = throttled + now.requests() - window.at().requests();
    if (throttled < MIN_THROTTLED || throttled * 100 < (long) HEAVY_PERCENT * calls) {
      return;
    }
    Instant last = memory.lastTierEvent.get(tier);
    if (last != null && at.isBefore(last.plus(TIER_EVENT_INTERVAL))) {
      return;
    }
    memory.lastTierEvent.put(tier, at);
    out.add(new Announcement(Announcement.WARNING, TIER_THROTTLED, "tier " + tier + ": " + throttled + " of " + calls
        + " calls (" + (throttled * 100 / calls) + "%) were answered 429 in the last " + age.toSeconds()
        + "s. Run kubectl ratekeeper explain --user <id> for a user of the tier to see which limit blocks; "
        + "docs/troubleshooting.md says what to change. (At most one such Event per tier every "
        + TIER_EVENT_INTERVAL.toMinutes() + " minutes.)"));
  }
}
