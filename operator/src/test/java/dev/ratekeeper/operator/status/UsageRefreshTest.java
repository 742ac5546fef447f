package dev.ratekeeper.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.Condition;
import dev.ratekeeper.policy.api.RateLimitPolicyStatus;
import dev.ratekeeper.policy.api.Usage;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class UsageRefreshTest {
  static final Instant T0 = Instant.parse("2026-11-23T10:00:00Z");
  final UsageRefresh refresh = new UsageRefresh(Duration.ofMinutes(1));

  static RateLimitPolicyStatus status(String revision, String spend) {
    RateLimitPolicyStatus status = new RateLimitPolicyStatus();
    status.observedGeneration = 1L;
    status.revision = revision;
    status.conditions = List.of(new Condition("Accepted", "True", "Compiled", "ok", 1L, "2026-11-23T09:00:00Z"));
    status.usage = new Usage();
    status.usage.period = "2026-11";
    status.usage.spendUsd = spend;
    return status;
  }

  @Test
  void usageAloneIsWrittenAtMostOncePerInterval() {
    RateLimitPolicyStatus written = refresh.apply("ns/p", status("r1", "1.00"), status("r1", "2.00"), T0);
    assertThat(written.usage.spendUsd).as("first change: written").isEqualTo("2.00");

    RateLimitPolicyStatus held = refresh.apply("ns/p", written, status("r1", "3.00"), T0.plusSeconds(30));
    assertThat(held).as("only usage changed, 30 s later: nothing to write").isEqualTo(written);

    RateLimitPolicyStatus due = refresh.apply("ns/p", written, status("r1", "4.00"), T0.plusSeconds(60));
    assertThat(due.usage.spendUsd).as("a minute later: written").isEqualTo("4.00");
  }

  @Test
  void otherChangesAreWrittenAtOnceWithFreshUsage() {
    RateLimitPolicyStatus written = refresh.apply("ns/p", status("r1", "1.00"), status("r1", "2.00"), T0);

    RateLimitPolicyStatus changed = refresh.apply("ns/p", written, status("r2", "3.00"), T0.plusSeconds(5));

    assertThat(changed.revision).isEqualTo("r2");
    assertThat(changed.usage.spendUsd).isEqualTo("3.00");
  }

  @Test
  void eachPolicyHasItsOwnInterval() {
    refresh.apply("ns/a", status("r1", "1.00"), status("r1", "2.00"), T0);

    assertThat(refresh.apply("ns/b", status("r1", "1.00"), status("r1", "2.00"), T0.plusSeconds(1)).usage.spendUsd)
        .isEqualTo("2.00");
  }
}
