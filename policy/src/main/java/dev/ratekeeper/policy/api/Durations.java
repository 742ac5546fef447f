package dev.ratekeeper.policy.api;

import java.util.Optional;
import java.util.regex.Matcher;

/** Go-style durations as Kubernetes users write them: {@code 0s}, {@code 500ms}, {@code 2s}, {@code 1m30s}. */
public final class Durations {
  public static final String PATTERN = "^([0-9]+(ms|s|m|h))+$";

  private static final java.util.regex.Pattern WHOLE = java.util.regex.Pattern.compile(PATTERN);
  private static final java.util.regex.Pattern PART = java.util.regex.Pattern.compile("([0-9]+)(ms|s|m|h)");

  private Durations() {}

  /** The duration in milliseconds, or empty when {@code text} does not parse. */
  public static Optional<Long> parseMillis(String text) {
    if (text == null || !WHOLE.matcher(text).matches()) {
      return Optional.empty();
    }
    long total = 0;
    Matcher m = PART.matcher(text);
    try {
      while (m.find()) {
        long n = Long.parseLong(m.group(1));
        long unit = switch (m.group(2)) {
          case "ms" -> 1L;
          case "s" -> 1_000L;
          case "m" -> 60_000L;
          default -> 3_600_000L;
        };
        total = Math.addExact(total, Math.multiplyExact(n, unit));
      }
    } catch (ArithmeticException | NumberFormatException e) {
      return Optional.empty();
    }
    return Optional.of(total);
  }
}
