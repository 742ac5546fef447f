package dev.ratekeeper.operator.reconcile;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.operator.status.Announcement;
import dev.ratekeeper.operator.status.TierTraffic;
import dev.ratekeeper.operator.status.UsageCounters;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.PolicyCompiler;
import dev.ratekeeper.policy.compile.PolicyDocument;
import dev.ratekeeper.policy.compile.PolicyId;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** When budget and throttling Events are due, and that a busy policy makes few of them. */
class UsageEventsTest {
  static final Instant T0 = Instant.parse("2026-12-03T12:00:00Z");
  static final CompiledPolicy POLICY = compile("""
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: agents, namespace: team-a}
      spec:
        tiers:
        - name: free
          requests: {perMinute: 10}
          budget: {usd: "1.00", period: Monthly}
        - name: daily
          budget: {usd: "1.00", period: Daily}
        - name: pro
          requests: {perMinute: 600}
        global:
          budget: {usd: "100.00", period: Monthly}
        budgets: {warnAtPercent: 80}
      """);

  final UsageEvents events = new UsageEvents();

  static CompiledPolicy compile(String yaml) {
    try {
      return PolicyCompiler.compile(new PolicyId("team-a", "agents"), PolicyDocument.parse(yaml).spec()).policy();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  List<Announcement> spend(long globalMicros, String period, Instant at, UsageCounters.Spender... top) {
    return events.observe("team-a/agents", POLICY, period, new UsageCounters(0, 0, globalMicros, List.of(top)),
        Map.of(), at);
  }

  List<Announcement> traffic(Instant at, long freeRequests, long freeThrottled) {
    return events.observe("team-a/agents", POLICY, "2026-12", UsageCounters.NONE,
        Map.of("free", new TierTraffic(freeRequests, freeThrottled)), at);
  }

  @Test
  void theGlobalBudgetIsAnnouncedOnceWhenItCrossesWarnAtPercentAndOnceWhenSpent() {
    assertThat(spend(79_999_999, "2026-12", T0)).isEmpty();
    List<Announcement> crossed = spend(80_000_000, "2026-12", T0.plusSeconds(1));
    assertThat(crossed).containsExactly(new Announcement("Warning", "BudgetWarning", "the policy's global budget has"
        + " spent $80.00 of $100.00 (80%) in 2026-12, past budgets.warnAtPercent (80%). Once it is spent, calls are"
        + " answered 429 (global.budget)."));
    for (int i = 2; i < 100; i++) {
      assertThat(spend(80_000_000 + i, "2026-12", T0.plusSeconds(i))).as("refresh %d", i).isEmpty();
    }
    assertThat(spend(100_000_000, "2026-12", T0.plusSeconds(200))).extracting(Announcement::reason)
        .containsExactly("BudgetExhausted");
    assertThat(spend(100_000_001, "2026-12", T0.plusSeconds(201))).isEmpty();
    assertThat(spend(90_000_000, "2027-01", T0.plusSeconds(300))).as("a new period warns again")
        .extracting(Announcement::reason).containsExactly("BudgetWarning");
  }

  @Test
  void aTopSpendersTierBudgetOfTheStatisticsPeriodIsAnnouncedPerUser() {
    List<Announcement> first = spend(0, "2026-12", T0, new UsageCounters.Spender("alice", 850_000, "free", 10L),
        new UsageCounters.Spender("bob", 100_000, "free", 10L),
        new UsageCounters.Spender("carol", 990_000, "daily", 10L),
        new UsageCounters.Spender("dave", 990_000, "pro", 10L));
    assertThat(first).extracting(Announcement::message).containsExactly("user \"alice\" (tier free) has spent $0.85 of"
        + " $1.00 (85%) in 2026-12, past budgets.warnAtPercent (80%). Once it is spent, calls are answered 429 (budget).");
    assertThat(spend(0, "2026-12", T0.plusSeconds(5), new UsageCounters.Spender("alice", 900_000, "free", 10L)))
        .isEmpty();
  }

  @Test
  void aTierThrottledHeavilyOverAMinuteIsAnnouncedAtMostOnceEveryTenMinutes() {
    assertThat(traffic(T0, 0, 0)).as("the first look only starts the window").isEmpty();
    assertThat(traffic(T0.plusSeconds(30), 10, 40)).as("the window is not a minute old yet").isEmpty();
    List<Announcement> heavy = traffic(T0.plusSeconds(60), 20, 60);
    assertThat(heavy).containsExactly(new Announcement("Warning", "TierThrottled", "tier free: 60 of 80 calls (75%) were"
        + " answered 429 in the last 60s. Run kubectl ratekeeper explain --user <id> for a user of the tier to see"
        + " which limit blocks; docs/troubleshooting.md says what to change. (At most one such Event per tier every"
        + " 10 minutes.)"));
    // still throttled every minute for ten minutes: nothing more until ten minutes after the Event
    long requests = 20;
    long throttled = 60;
    int announced = 0;
    for (int minute = 2; minute <= 20; minute++) {
      requests += 10;
      throttled += 100;
      announced += traffic(T0.plus(Duration.ofMinutes(minute)), requests, throttled).size();
      if (minute == 10) {
        assertThat(announced).as("minutes 2..10").isZero();
      }
    }
    assertThat(announced).as("minutes 11..20: one more, at minute 11").isEqualTo(1);
  }

  @Test
  void fewOrALowShareOfThrottledCallsIsNotHeavy() {
    traffic(T0, 0, 0);
    assertThat(traffic(T0.plusSeconds(60), 0, 9)).as("9 throttled: under the minimum").isEmpty();
    assertThat(traffic(T0.plusSeconds(120), 1000, 9 + 900)).as("900 of 1900: under half").isEmpty();
    assertThat(traffic(T0.plusSeconds(180), 1000, 909 + 10)).as("10 of 10").hasSize(1);
  }

  @Test
  void countsThatRestartStartANewWindow() {
    traffic(T0, 500, 500);
    assertThat(traffic(T0.plusSeconds(60), 0, 50)).as("a new period: counts went down").isEmpty();
    assertThat(traffic(T0.plusSeconds(120), 0, 100)).hasSize(1);
  }
}
