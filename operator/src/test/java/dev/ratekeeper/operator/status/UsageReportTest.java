package dev.ratekeeper.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.TopUser;
import dev.ratekeeper.policy.api.Usage;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class UsageReportTest {
  @Test
  void countersBecomeExactDollarsAndTopUsers() {
    UsageCounters counters = new UsageCounters(120, 7, 123_450_000, List.of(
        new UsageCounters.Spender("bob", 1_500, "free", 300L),
        new UsageCounters.Spender("alice", 40_120_000, "premium", 123_456L)));

    Usage usage = UsageReport.of("2026-11", counters);

    assertThat(usage.period).isEqualTo("2026-11");
    assertThat(usage.spendUsd).isEqualTo("123.45");
    assertThat(usage.requests).isEqualTo(120L);
    assertThat(usage.throttled).isEqualTo(7L);
    assertThat(usage.topUsers).containsExactly(
        new TopUser("alice", "premium", "40.12", 123_456L),
        new TopUser("bob", "free", "0.0015", 300L));
  }

  @Test
  void nothingRecordedIsZero() {
    Usage usage = UsageReport.of("2026-W47", UsageCounters.NONE);

    assertThat(usage.spendUsd).isEqualTo("0.00");
    assertThat(usage.requests).isZero();
    assertThat(usage.topUsers).as("omitted, as the API server would drop it").isNull();
  }

  @Test
  void atMostTenTopUsersAndMissingLabelsStayAbsent() {
    List<UsageCounters.Spender> spenders = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      spenders.add(new UsageCounters.Spender("user-" + i, 1_000_000L * (i + 1), null, null));
    }

    Usage usage = UsageReport.of("2026-11", new UsageCounters(0, 0, 0, spenders));

    assertThat(usage.topUsers).hasSize(10);
    assertThat(usage.topUsers.get(0)).isEqualTo(new TopUser("user-11", null, "12.00", null));
  }
}
