package dev.ratekeeper.policy.api;

import java.math.BigDecimal;
import java.util.Optional;

/** Dollar amounts: exact decimals in the API, integer micro-dollars inside. Never binary floating point. */
public final class Money {
  /** An unsigned decimal with at most 6 fraction digits. */
  public static final String PATTERN = "^[0-9]{1,12}(\\.[0-9]{1,6})?$";

  private static final java.util.regex.Pattern COMPILED = java.util.regex.Pattern.compile(PATTERN);
  private static final BigDecimal MICROS = BigDecimal.valueOf(1_000_000);

  private Money() {}

  /** The amount in micro-dollars, or empty when {@code usd} is not a valid amount. */
  public static Optional<Long> parseMicros(String usd) {
    if (usd == null || !COMPILED.matcher(usd).matches()) {
      return Optional.empty();
    }
    return Optional.of(new BigDecimal(usd).multiply(MICROS).longValueExact());
  }

  /** Micro-dollars as a decimal string with two to six fraction digits: 1234500 → "1.2345". */
  public static String format(long micros) {
    if (micros != Long.MIN_VALUE) { // on every budgeted answer: plain arithmetic, no BigDecimal
      long abs = Math.abs(micros);
      long fraction = abs % 1_000_000;
      int digits = 6;
      while (digits > 2 && fraction % 10 == 0) {
        fraction /= 10;
        digits--;
      }
      StringBuilder out = new StringBuilder(24);
      if (micros < 0) {
        out.append('-');
      }
      out.append(abs / 1_000_000).append('.');
      String fractionDigits = Long.toString(fraction);
      for (int pad = digits - fractionDigits.length(); pad > 0; pad--) {
        out.append('0');
      }
      return out.append(fractionDigits).toString();
    }
    BigDecimal value = BigDecimal.valueOf(micros).divide(MICROS).stripTrailingZeros();
    if (value.scale() < 2) {
      value = value.setScale(2);
    }
    return value.toPlainString();
  }
}
