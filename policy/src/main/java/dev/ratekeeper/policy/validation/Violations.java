package dev.ratekeeper.policy.validation;

import dev.ratekeeper.policy.api.Budget;
import dev.ratekeeper.policy.api.Money;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.ObjIntConsumer;
import java.util.regex.Pattern;

/** Collects violations in the order they are found, with the checks every part of a spec shares. */
final class Violations {
  /** The largest count a limit may have: Redis scripts count in doubles, exact up to 2^53 - 1. */
  static final long MAX_COUNT = (1L << 53) - 1;
  /** The largest dollar amount (budget or price) a policy may hold, in micro-dollars: one billion dollars. */
  static final long MAX_MICROS = 1_000_000_000L * 1_000_000L;

  private final List<Violation> found = new ArrayList<>();

  void add(String path, String message) {
    found.add(new Violation(path, message));
  }

  List<Violation> list() {
    return List.copyOf(found);
  }

  /** A required string: reports null ("is required") and empty ("must not be empty"); true when present. */
  boolean requiredText(String path, String value) {
    if (value == null) {
      add(path, "is required");
      return false;
    }
    return nonEmpty(path, value);
  }

  /** An optional string that must not be empty when given; true when present and not empty. */
  boolean nonEmpty(String path, String value) {
    if (value == null) {
      return false;
    }
    if (value.isEmpty()) {
      add(path, "must not be empty");
      return false;
    }
    return true;
  }

  boolean required(String path, Object value, String hint) {
    if (value == null) {
      add(path, hint == null ? "is required" : "is required (" + hint + ")");
      return false;
    }
    return true;
  }

  boolean maxLength(String path, String value, int max) {
    if (value.length() > max) {
      add(path, "must be at most " + max + " characters");
      return false;
    }
    return true;
  }

  boolean matches(String path, String value, Pattern pattern, String what) {
    if (!pattern.matcher(value).matches()) {
      add(path, quote(value) + " is not " + what);
      return false;
    }
    return true;
  }

  /** A count limit (requests, tokens): absent is unlimited; present it is 1..2^53-1. True when present and valid. */
  boolean limit(String path, Long value) {
    if (value == null) {
      return false;
    }
    if (value < 1) {
      add(path, "must be at least 1");
      return false;
    }
    if (value > MAX_COUNT) {
      add(path, "must be at most " + MAX_COUNT);
      return false;
    }
    return true;
  }

  boolean limit(String path, Integer value) {
    return value != null && limit(path, Long.valueOf(value));
  }

  /** An optional integer within {@code min..max}; true when present and valid. */
  boolean range(String path, Integer value, int min, int max, boolean saySpan) {
    if (value == null) {
      return false;
    }
    if (value < min || value > max) {
      if (saySpan) {
        add(path, "must be between " + min + " and " + max);
      } else {
        add(path, value < min ? "must be at least " + min : "must be at most " + max);
      }
      return false;
    }
    return true;
  }

  /**
   * A token bucket: {@code perMinute} refill and {@code burst} size, both optional limits; a burst
   * without a refill rate would be silently ignored, so it is reported.
   */
  void rate(String path, Long perMinute, Long burst) {
    limit(path + ".perMinute", perMinute);
    limit(path + ".burst", burst);
    if (burst != null && perMinute == null) {
      add(path + ".burst", "has no effect without perMinute; set perMinute (the refill rate) too");
    }
  }

  /** A dollar amount (budget, price); empty when absent or invalid (then reported). */
  Optional<Long> money(String path, String usd, boolean required) {
    if (usd == null) {
      if (required) {
        add(path, "is required");
      }
      return Optional.empty();
    }
    Optional<Long> micros = Money.parseMicros(usd);
    if (micros.isEmpty()) {
      add(path, quote(usd) + " is not a dollar amount: write a decimal with at most 6 fraction digits, e.g. \"20.00\"");
      return Optional.empty();
    }
    if (micros.get() > MAX_MICROS) {
      add(path, "must be at most \"" + Money.format(MAX_MICROS) + "\"");
      return Optional.empty();
    }
    return micros;
  }

  void budget(String path, Budget budget) {
    if (budget == null) {
      return;
    }
    money(path + ".usd", budget.usd, true).ifPresent(micros -> {
      if (micros == 0) {
        add(path + ".usd", "must be greater than 0 (a zero budget admits no priced request)");
      }
    });
    required(path + ".period", budget.period, "Daily, Weekly or Monthly");
  }

  /**
   * A list: at most {@code max} items, none of them null. Calls {@code each} with every non-null
   * item and its index.
   */
  <T> void items(String path, List<T> list, int max, ObjIntConsumer<T> each) {
    if (list == null) {
      return;
    }
    if (list.size() > max) {
      add(path, "must have at most " + max + " items, has " + list.size());
    }
    for (int i = 0; i < list.size(); i++) {
      T item = list.get(i);
      if (item == null) {
        add(path + "[" + i + "]", "must not be null");
      } else {
        each.accept(item, i);
      }
    }
  }

  static String quote(String value) {
    return "\"" + value + "\"";
  }
}
