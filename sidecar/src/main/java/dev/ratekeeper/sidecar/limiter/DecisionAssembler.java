package dev.ratekeeper.sidecar.limiter;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Turns per-check outcomes into a {@link Decision}: orders the blocking dimensions, computes
 * retry-after and the header figures. Both stores use it, so they cannot disagree on presentation.
 */
public final class DecisionAssembler {
  private DecisionAssembler() {}

  /**
   * @param checks the plan, in order
   * @param outcomes one per check, same order
   * @param committed whether the request was charged (all passed, or shadow mode)
   * @param nowMs the store's clock
   */
  public static Decision assemble(AdmitRequest request, List<Check> checks, List<CheckOutcome> outcomes,
      boolean committed, long nowMs) {
    if (checks.size() != outcomes.size()) {
      throw new IllegalArgumentException(checks.size() + " checks but " + outcomes.size() + " outcomes");
    }
    List<DimensionStatus> statuses = new ArrayList<>(checks.size());
    Map<Dimension, Long> waits = null; // made only when a check blocks (most decisions pass)
    boolean never = false;
    boolean calendarBlocks = false;
    long retryAfter = 0;
    BudgetStatus userBudget = null;
    BudgetStatus globalBudget = null;
    Long remainingRequests = null;
    Long remainingTokens = null;
    Long remainingBudget = null;

    for (int i = 0; i < checks.size(); i++) {
      Check check = checks.get(i);
      CheckOutcome out = outcomes.get(i);
      statuses.add(new DimensionStatus(check.dimension(), check.tierShare(), check.limit(), out.remaining(),
          out.resetMs(), !out.passed(), out.waitMs()));
      if (!out.passed()) {
        long wait = out.neverPassable() ? Long.MAX_VALUE : out.waitMs();
        if (waits == null) {
          waits = new EnumMap<>(Dimension.class);
        }
        waits.merge(check.dimension(), wait, Math::max);
        never |= out.neverPassable();
        calendarBlocks |= check.kind() == Check.Kind.QUOTA;
        if (!out.neverPassable()) {
          retryAfter = Math.max(retryAfter, out.waitMs());
        }
      }
      switch (check.unit()) {
        case REQUESTS -> remainingRequests = min(remainingRequests, out.remaining());
        case TOKENS -> remainingTokens = min(remainingTokens, out.remaining());
        case MICRO_USD -> {
          remainingBudget = min(remainingBudget, out.remaining());
          BudgetStatus budget = new BudgetStatus(out.used(), check.limit(), out.resetMs());
          if (check.dimension() == Dimension.BUDGET) {
            userBudget = budget;
          } else if (check.dimension() == Dimension.GLOBAL_BUDGET) {
            globalBudget = budget;
          }
        }
        case LEASES -> { }
      }
    }

    List<Dimension> limitedBy = waits == null ? List.of() : waits.entrySet().stream()
        .sorted(Comparator.<Map.Entry<Dimension, Long>>comparingLong(Map.Entry::getValue).reversed()
            .thenComparing(Map.Entry::getKey))
        .map(Map.Entry::getKey)
        .toList();
    boolean blocked = !limitedBy.isEmpty();
    boolean helpsSoon = !blocked || (!never && !calendarBlocks && retryAfter <= Decision.SOON_MS);
    return new Decision(committed, request.shadow(), limitedBy, blocked ? retryAfter : 0, helpsSoon, never,
        statuses, userBudget, globalBudget, remainingRequests, remainingTokens, remainingBudget, nowMs);
  }

  private static Long min(Long current, long value) {
    return current == null ? value : Math.min(current, value);
  }
}
