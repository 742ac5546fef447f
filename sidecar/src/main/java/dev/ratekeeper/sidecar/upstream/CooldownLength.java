package dev.ratekeeper.sidecar.upstream;

import io.vertx.core.MultiMap;
import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How long to stop calling a provider after its 429 or 529: {@code retry-after-ms}, else
 * {@code retry-after} (seconds or an HTTP date), else the reset of the rate-limit dimension the
 * provider reports as exhausted ({@code anthropic-ratelimit-*-remaining: 0} with its RFC 3339
 * {@code -reset}; OpenAI {@code x-ratelimit-remaining-*: 0} with its {@code x-ratelimit-reset-*}
 * duration such as {@code 6m0s}), else {@link #DEFAULT_MS}; never more than {@link #CAP_MS}.
 */
public final class CooldownLength {
  public static final long CAP_MS = 60_000;
  public static final long DEFAULT_MS = 1_000;
  private static final String[] DIMENSIONS = {"requests", "tokens", "input-tokens", "output-tokens"};
  private static final Pattern GO_DURATION = Pattern.compile("([0-9]+(?:\\.[0-9]+)?)(ms|h|m|s)");

  private CooldownLength() {}

  public static long fromHeaders(MultiMap headers, Instant now) {
    long ms = explicit(headers, now);
    if (ms < 0) {
      ms = fromResets(headers, now);
    }
    if (ms < 0) {
      ms = DEFAULT_MS;
    }
    return Math.max(1, Math.min(CAP_MS, ms));
  }

  private static long explicit(MultiMap headers, Instant now) {
    String ms = headers.get("retry-after-ms");
    if (ms != null) {
      try {
        return (long) Math.ceil(Double.parseDouble(ms.trim()));
      } catch (NumberFormatException ignored) {
        // fall through to retry-after
      }
    }
    String after = headers.get("retry-after");
    if (after != null) {
      try {
        return (long) Math.ceil(Double.parseDouble(after.trim()) * 1000);
      } catch (NumberFormatException notSeconds) {
        try {
          return Duration.between(now, ZonedDateTime.parse(after.trim(), DateTimeFormatter.RFC_1123_DATE_TIME)
              .toInstant()).toMillis();
        } catch (DateTimeParseException ignored) {
          // neither form
        }
      }
    }
    return -1;
  }

  /**
   * For a normal answer: when one of the provider's own rate-limit dimensions has at most
   * {@code reservePercent} % of its limit left, how long until the latest such dimension resets
   * (capped at {@link #CAP_MS}); -1 when none is that low or the provider sends no such headers.
   */
  public static long untilNearlySpentResets(MultiMap headers, Instant now, int reservePercent) {
    long ms = fromResets(headers, now, reservePercent);
    return ms < 0 ? -1 : Math.max(1, Math.min(CAP_MS, ms));
  }

  private static long fromResets(MultiMap headers, Instant now) {
    return fromResets(headers, now, 0);
  }

  /** Whether {@code remaining} is at most {@code percent} % of {@code limit} (0 %: exhausted). */
  private static boolean low(String remaining, String limit, int percent) {
    if (remaining == null) {
      return false; // the usual case: no such header, decided without an exception
    }
    try {
      long left = Long.parseLong(trim(remaining));
      if (percent == 0 || limit == null) {
        return left <= 0;
      }
      return left * 100 <= Long.parseLong(trim(limit)) * percent;
    } catch (NumberFormatException e) {
      return false;
    }
  }

  /**
   * The rate-limit header names of one dimension, both providers' spellings (read on every answer):
   * pre-encoded ASCII names whose hash is computed once, not per lookup.
   */
  private record HeaderNames(CharSequence anthropicRemaining, CharSequence anthropicLimit,
      CharSequence anthropicReset, CharSequence openAiRemaining, CharSequence openAiLimit, CharSequence openAiReset) {
    static HeaderNames of(String dimension) {
      return new HeaderNames(name("anthropic-ratelimit-" + dimension + "-remaining"),
          name("anthropic-ratelimit-" + dimension + "-limit"), name("anthropic-ratelimit-" + dimension + "-reset"),
          name("x-ratelimit-remaining-" + dimension), name("x-ratelimit-limit-" + dimension),
          name("x-ratelimit-reset-" + dimension));
    }

    private static CharSequence name(String header) {
      return io.vertx.core.http.HttpHeaders.createOptimized(header);
    }
  }

  private static final java.util.List<HeaderNames> HEADER_NAMES =
      java.util.Arrays.stream(DIMENSIONS).map(HeaderNames::of).toList();

  private static long fromResets(MultiMap headers, Instant now, int percent) {
    long longest = -1;
    for (HeaderNames names : HEADER_NAMES) {
      if (low(headers.get(names.anthropicRemaining()), headers.get(names.anthropicLimit()), percent)) {
        String reset = headers.get(names.anthropicReset());
        if (reset != null) {
          try {
            longest = Math.max(longest, Duration.between(now, Instant.parse(reset.trim())).toMillis());
          } catch (DateTimeParseException ignored) {
            // unreadable reset
          }
        }
      }
      if (low(headers.get(names.openAiRemaining()), headers.get(names.openAiLimit()), percent)) {
        String reset = headers.get(names.openAiReset());
        if (reset != null) {
          longest = Math.max(longest, goDuration(reset.trim()));
        }
      }
    }
    return longest;
  }

  /** OpenAI's reset durations: {@code 20ms}, {@code 1s}, {@code 6m0s}, {@code 1h2m3.5s}. */
  static long goDuration(String text) {
    Matcher m = GO_DURATION.matcher(text);
    double total = 0;
    int end = 0;
    while (m.find()) {
      if (m.start() != end) {
        return -1;
      }
      double n = Double.parseDouble(m.group(1));
      total += switch (m.group(2)) {
        case "ms" -> n;
        case "s" -> n * 1_000;
        case "m" -> n * 60_000;
        default -> n * 3_600_000;
      };
      end = m.end();
    }
    return end == text.length() && end > 0 ? (long) Math.ceil(total) : -1;
  }

  private static String trim(String s) {
    return s == null ? null : s.trim();
  }
}
