package dev.ratekeeper.sidecar.limiter;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.compile.Rate;
import org.junit.jupiter.api.Test;

class TokenBucketTest {
  private static final Check SEVEN = Check.bucket(Dimension.TIER_REQUESTS_PER_MINUTE, false, "k",
      Rate.perMinute(7L, 1L), 1);

  @Test
  void drainsExactlyLimitPerMillisecond() {
    assertThat(TokenBucket.drained(0, 60_000, 8571, 7)).isEqualTo(3);
    assertThat(TokenBucket.drained(0, 60_000, 8572, 7)).isZero();
    assertThat(TokenBucket.drained(100, 60_000, 50, 7)).as("clock went backwards").isEqualTo(60_000);
    assertThat(TokenBucket.drained(0, 60_000, Long.MAX_VALUE / 2, 7)).as("no overflow").isZero();
  }

  @Test
  void waitIsTheCeilingOfTheMissingOccupancy() {
    Evaluation full = TokenBucket.evaluate(SEVEN, 3);
    assertThat(full.passed()).isFalse();
    assertThat(full.waitMs()).isEqualTo(1);
    assertThat(full.neverPassable()).isFalse();
    Evaluation empty = TokenBucket.evaluate(SEVEN, 0);
    assertThat(empty.passed()).isTrue();
    assertThat(empty.remainingIfCommitted()).isZero();
    assertThat(empty.resetIfCommittedMs()).isEqualTo(8572);
    assertThat(empty.remainingNow()).isEqualTo(1);
  }

  @Test
  void moreThanTheBucketIsNeverPassable() {
    Check two = Check.bucket(Dimension.TIER_REQUESTS_PER_MINUTE, false, "k", Rate.perMinute(7L, 1L), 2);
    Evaluation e = TokenBucket.evaluate(two, 0);
    assertThat(e.passed()).isFalse();
    assertThat(e.neverPassable()).isTrue();
    assertThat(e.waitMs()).isEqualTo(-1);
  }

  @Test
  void reconcileNeverGoesBelowEmpty() {
    assertThat(TokenBucket.recharged(60_000, 5, 1, 60_000)).isZero();
    assertThat(TokenBucket.recharged(60_000, 1, 3, 60_000)).isEqualTo(180_000);
  }

  @Test
  void hugeBucketsAreClampedToStayExactInLua() {
    Check huge = Check.bucket(Dimension.GLOBAL_TOKENS_PER_MINUTE, false, "k",
        Rate.perMinute(Long.MAX_VALUE / 1_000_000, null), 1);
    assertThat(huge.burst() * huge.periodMs()).isLessThan(Check.MAX_EXACT);
  }
}
