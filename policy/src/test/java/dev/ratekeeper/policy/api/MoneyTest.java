package dev.ratekeeper.policy.api;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.NullSource;
import org.junit.jupiter.params.provider.ValueSource;

class MoneyTest {
  @ParameterizedTest(name = "\"{0}\" = {1} micro-dollars")
  @CsvSource({
      "0, 0",
      "1, 1000000",
      "20.00, 20000000",
      "1.5, 1500000",
      "0.000001, 1",
      "0.075, 75000",
      "3.75, 3750000",
      "999999999999.999999, 999999999999999999",
  })
  void parsesExactDecimalsToMicroDollars(String usd, long micros) {
    assertThat(Money.parseMicros(usd)).contains(micros);
  }

  @ParameterizedTest(name = "\"{0}\" is not an amount")
  @NullSource
  @ValueSource(strings = {"", " 1", "1 ", "1.", ".5", "-1", "+1", "1e3", "1,5", "$1", "1.0000001", "1234567890123",
      "0x10", "NaN"})
  void rejectsAnythingButAnUnsignedDecimalWithAtMostSixFractionDigits(String usd) {
    assertThat(Money.parseMicros(usd)).isEmpty();
  }

  @ParameterizedTest(name = "{0} micro-dollars = \"{1}\"")
  @CsvSource({
      "0, 0.00",
      "1, 0.000001",
      "1500000, 1.50",
      "1234500, 1.2345",
      "20000000, 20.00",
      "123450000, 123.45",
  })
  void formatsWithTwoToSixFractionDigits(long micros, String usd) {
    assertThat(Money.format(micros)).isEqualTo(usd);
    assertThat(Money.parseMicros(usd)).contains(micros);
  }

  @ParameterizedTest(name = "{0} micro-dollars as BigDecimal writes it")
  @ValueSource(longs = {0, 1, -1, 10, -10, 999_999, 1_000_000, -1_000_000, 1_000_001, 1_230_000, 1_234_560,
      -987_654_321, Long.MAX_VALUE, Long.MIN_VALUE, Long.MIN_VALUE + 1, 100_000_000_000L})
  void formatsEveryAmountAsTheDecimalDefinitionDoes(long micros) {
    java.math.BigDecimal value = java.math.BigDecimal.valueOf(micros).movePointLeft(6).stripTrailingZeros();
    String expected = (value.scale() < 2 ? value.setScale(2) : value).toPlainString();
    assertThat(Money.format(micros)).isEqualTo(expected);
  }
}
