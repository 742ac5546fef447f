package dev.ratekeeper.policy.compile;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class RateTest {
  @Test
  void burstDefaultsToAFullMinute() {
    assertThat(Rate.perMinute(10L, null)).isEqualTo(new Rate(10, 60_000, 10));
    assertThat(Rate.perMinute(10L, 5L)).isEqualTo(new Rate(10, 60_000, 5));
  }

  @Test
  void noPerMinuteIsNoRate() {
    assertThat(Rate.perMinute(null, null)).isNull();
  }

  @Test
  void shareScalesLimitAndBurstButNeverBelowOne() {
    assertThat(new Rate(500, 60_000, 100).share(50)).isEqualTo(new Rate(250, 60_000, 50));
    assertThat(new Rate(3, 60_000, 1).share(10)).isEqualTo(new Rate(1, 60_000, 1));
    assertThat(new Rate(500, 60_000, 100).share(100)).isEqualTo(new Rate(500, 60_000, 100));
  }
}
