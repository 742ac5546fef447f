package dev.ratekeeper.operator.status;

import dev.ratekeeper.policy.api.Money;
import dev.ratekeeper.policy.api.TopUser;
import dev.ratekeeper.policy.api.Usage;
import java.util.Comparator;
import java.util.List;

/** Turns the period's counters into {@code status.usage}: exact dollar strings, at most 10 top users. */
public final class UsageReport {
  public static final int TOP_USERS = 10;

  private UsageReport() {}

  public static Usage of(String periodId, UsageCounters counters) {
    Usage usage = new Usage();
    usage.period = periodId;
    usage.spendUsd = Money.format(counters.spendMicros());
    usage.requests = counters.requests();
    usage.throttled = counters.throttled();
    // absent rather than 0: a status with nothing estimated reads as before
    usage.estimatedCharges = counters.estimated() == 0 ? null : counters.estimated();
    List<TopUser> top = counters.topSpenders().stream()
        .sorted(Comparator.comparingLong(UsageCounters.Spender::spendMicros).reversed()
            .thenComparing(UsageCounters.Spender::user))
        .limit(TOP_USERS)
        .map(s -> new TopUser(s.user(), s.tier(), Money.format(s.spendMicros()), s.tokens()))
        .toList();
    // absent rather than empty: the API server drops empty lists, and status must compare equal after a round trip
    usage.topUsers = top.isEmpty() ? null : top;
    return usage;
  }
}
