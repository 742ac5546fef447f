package dev.ratekeeper.policy.compile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class CompiledPricingTest {
  /** claude-sonnet-4-6 list prices in micro-dollars per million tokens: 3 / 15, cache read 0.30, cache write 3.75. */
  private static final CompiledPricing SONNET = new CompiledPricing(3_000_000, 15_000_000, 300_000, 3_750_000);
  /** gpt-4o-mini: 0.15 / 0.60, cached input 0.075. */
  private static final CompiledPricing GPT_4O_MINI = new CompiledPricing(150_000, 600_000, 75_000, 150_000);

  @Test
  void costIsExactInMicroDollars() {
    // 1000 × 3 + 500 × 15 + 2000 × 0.30 + 100 × 3.75 = 11475 micro-dollars per million → $0.011475
    assertThat(SONNET.costMicros(1000, 500, 2000, 100)).isEqualTo(11_475);
    assertThat(SONNET.costMicros(1_000_000, 0, 0, 0)).isEqualTo(3_000_000);
    assertThat(SONNET.costMicros(0, 1_000_000, 0, 0)).isEqualTo(15_000_000);
    assertThat(SONNET.costMicros(0, 0, 1_000_000, 0)).isEqualTo(300_000);
    assertThat(SONNET.costMicros(0, 0, 0, 1_000_000)).isEqualTo(3_750_000);
  }

  @Test
  void costRoundsUpToAWholeMicroDollarSoBudgetsAreNeverUnderCharged() {
    assertThat(GPT_4O_MINI.costMicros(1, 0, 0, 0)).isEqualTo(1);      // 0.15 → 1
    assertThat(GPT_4O_MINI.costMicros(7, 0, 0, 0)).isEqualTo(2);      // 1.05 → 2
    assertThat(GPT_4O_MINI.costMicros(20, 0, 0, 0)).isEqualTo(3);     // 3.00 → 3, exact stays exact
    assertThat(GPT_4O_MINI.costMicros(0, 0, 1, 0)).isEqualTo(1);      // 0.075 → 1
    assertThat(GPT_4O_MINI.costMicros(3, 1, 2, 0)).isEqualTo(2);      // 0.45 + 0.60 + 0.15 = 1.2 → 2
  }

  @Test
  void nothingCostsNothing() {
    assertThat(SONNET.costMicros(0, 0, 0, 0)).isZero();
    assertThat(new CompiledPricing(0, 0, 0, 0).costMicros(1_000_000, 1_000_000, 1, 1)).isZero();
  }

  @Test
  void overflowFailsLoudlyInsteadOfWrappingAround() {
    assertThatThrownBy(() -> SONNET.costMicros(Long.MAX_VALUE / 2, 0, 0, 0)).isInstanceOf(ArithmeticException.class);
  }
}
