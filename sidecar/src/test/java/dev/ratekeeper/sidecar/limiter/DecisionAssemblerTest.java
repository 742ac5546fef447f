package dev.ratekeeper.sidecar.limiter;

import static dev.ratekeeper.sidecar.limiter.TestPolicy.perMinute;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.policy;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.tier;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import java.util.List;
import org.junit.jupiter.api.Test;

class DecisionAssemblerTest {
  private final CompiledPolicy p = policy().tier(tier("free")).build();
  private final AdmitRequest request = AdmitRequest.metered(p, "r", "alice", p.tier("free").orElseThrow(), null, 1, 1);

  private static Check bucket(Dimension d) {
    return Check.bucket(d, false, "k", perMinute(10), 1);
  }

  private static CheckOutcome blocked(long waitMs) {
    return new CheckOutcome(false, waitMs, 0, waitMs, 0, false);
  }

  private static final CheckOutcome PASSED = new CheckOutcome(true, 0, 5, 10, 0, false);

  @Test
  void equalWaitsKeepTheDimensionOrder() {
    Decision d = DecisionAssembler.assemble(request,
        List.of(bucket(Dimension.GLOBAL_REQUESTS_PER_MINUTE), bucket(Dimension.TIER_REQUESTS_PER_MINUTE)),
        List.of(blocked(500), blocked(500)), false, 0);
    assertThat(d.limitedBy()).containsExactly(Dimension.TIER_REQUESTS_PER_MINUTE, Dimension.GLOBAL_REQUESTS_PER_MINUTE);
    assertThat(d.retryAfterMs()).isEqualTo(500);
    assertThat(d.retryAfterSeconds()).isEqualTo(1);
  }

  @Test
  void allowedDecisionsHaveNoWait() {
    Decision d = DecisionAssembler.assemble(request, List.of(bucket(Dimension.TIER_REQUESTS_PER_MINUTE)),
        List.of(PASSED), true, 0);
    assertThat(d.allowed()).isTrue();
    assertThat(d.limitedBy()).isEmpty();
    assertThat(d.limitedByHeader()).isEmpty();
    assertThat(d.retryAfterMs()).isZero();
    assertThat(d.retryHelpsSoon()).isTrue();
    assertThat(d.remainingRequests()).isEqualTo(5);
    assertThat(d.remainingTokens()).isNull();
  }

  @Test
  void aWaitJustOverAMinuteDoesNotHelpSoon() {
    Decision d = DecisionAssembler.assemble(request, List.of(bucket(Dimension.TIER_TOKENS_PER_MINUTE)),
        List.of(blocked(60_001)), false, 0);
    assertThat(d.retryHelpsSoon()).isFalse();
  }

  @Test
  void budgetWarningAtThePercentExactly() {
    BudgetStatus status = new BudgetStatus(800_000, 1_000_000, 0);
    assertThat(status.reaches(80)).isTrue();
    assertThat(status.reaches(81)).isFalse();
    assertThat(new BudgetStatus(1_200_000, 1_000_000, 0).remainingMicros()).isZero();
  }
}
