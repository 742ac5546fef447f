package dev.ratekeeper.cli;

import dev.ratekeeper.policy.api.Durations;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The values of one program's settings, with the one rule each kind of value follows in every
 * program. A read that fails records a problem naming the setting and returns the fallback, so a
 * program reads everything and {@link #check()} reports every problem at once.
 *
 * <ul>
 *   <li><b>Where from</b>: a flag on the command line wins; else its environment variable.
 *   <li><b>Trimming</b>: every value is trimmed. A variable that is unset or blank counts as not
 *       set (charts render empty variables); a flag given with an empty value is given, empty.
 *       Only {@link #textOrNone} reads a blank variable as "none" (settings documented {@code "" for none}).
 *   <li><b>Durations</b>: Go style, as policies write them ({@code 500ms}, {@code 10s}, {@code 1m30s},
 *       {@code 168h}), and more than zero: no setting means "off" by 0s.
 *   <li><b>Sizes</b>: a whole number of bytes with an optional unit B, KB, KiB, MB, MiB, GB, GiB
 *       (any case), at least 1 byte.
 *   <li><b>Booleans</b>: {@code true}/{@code false}, also {@code yes}/{@code no} and {@code 1}/{@code 0},
 *       in any case; a switch flag alone means true.
 *   <li><b>Lists</b>: comma-separated, in a variable or a flag; a repeatable flag adds up its values.
 *   <li><b>Choices</b>: an enum constant's name in any case.
 * </ul>
 */
public final class Inputs {
  private static final Pattern SIZE = Pattern.compile("^([0-9]{1,12})\\s*(B|KB|KiB|MB|MiB|GB|GiB)?$",
      Pattern.CASE_INSENSITIVE);

  /** Flags given, by their variable's name (a setting is known by its names, whatever its help says). */
  private final Map<String, List<String>> given;
  private final Map<String, String> env;
  private final List<String> problems;
  private final boolean help;

  Inputs(Map<String, List<String>> given, Map<String, String> env, List<String> problems, boolean help) {
    this.given = new LinkedHashMap<>(given);
    this.env = env;
    this.problems = new ArrayList<>(problems);
    this.help = help;
  }

  /** The flags given, by their variable's name, in the order first given. */
  Map<String, List<String>> given() {
    return java.util.Collections.unmodifiableMap(given);
  }

  /** Values from the environment alone, for a program part configured by variables only. */
  public static Inputs fromEnv(Map<String, String> env) {
    return new Inputs(Map.of(), env, List.of(), false);
  }

  /** Whether the command line asked for the help. */
  public boolean help() {
    return help;
  }

  /** Whether the setting has a value (a flag given, or its variable set and not blank). */
  public boolean isSet(Setting s) {
    return text(s) != null;
  }

  /** The trimmed value, or null when not set. */
  public String text(Setting s) {
    List<String> values = given.get(s.env());
    if (values != null) {
      return values.get(values.size() - 1);
    }
    return env(s.env());
  }

  public String text(Setting s, String fallback) {
    String v = text(s);
    return v != null ? v : fallback;
  }

  /** Like {@link #text(Setting, String)}, but set and blank means none (null) rather than the default. */
  public String textOrNone(Setting s, String fallback) {
    List<String> values = given.get(s.env());
    String v = values != null ? values.get(values.size() - 1) : env.get(s.env());
    if (v == null) {
      return fallback;
    }
    return v.isBlank() ? null : v.strip();
  }

  /** An environment variable that is no setting of its own (such as {@code POD_NAME}): trimmed, blank = null. */
  public String env(String name) {
    String v = env.get(name);
    return v == null || v.isBlank() ? null : v.strip();
  }

  /** Variables whose names start with {@code prefix}, with a value, by the rest of their name. */
  public Map<String, String> envWithPrefix(String prefix) {
    Map<String, String> out = new LinkedHashMap<>();
    env.forEach((name, value) -> {
      if (name.startsWith(prefix) && value != null && !value.isBlank()) {
        out.put(name.substring(prefix.length()), value.strip());
      }
    });
    return out;
  }

  /** The comma-separated values: of every time the flag is given, else of its variable. Blanks dropped. */
  public List<String> list(Setting s) {
    List<String> values = given.get(s.env());
    List<String> raw = values != null ? values : env(s.env()) == null ? List.of() : List.of(env(s.env()));
    List<String> out = new ArrayList<>();
    for (String v : raw) {
      Arrays.stream(v.split(",")).map(String::strip).filter(p -> !p.isEmpty()).forEach(out::add);
    }
    return out;
  }

  public boolean bool(Setting s, boolean fallback) {
    String v = text(s);
    if (v == null) {
      return fallback;
    }
    return switch (v.toLowerCase(Locale.ROOT)) {
      case "true", "yes", "1" -> true;
      case "false", "no", "0" -> false;
      default -> {
        problem(s, "expected true or false, got \"" + v + "\"");
        yield fallback;
      }
    };
  }

  public Duration duration(Setting s, Duration fallback) {
    String v = text(s);
    if (v == null) {
      return fallback;
    }
    var millis = Durations.parseMillis(v);
    if (millis.isEmpty() || millis.get() <= 0) {
      problem(s, "expected a positive duration such as 500ms, 10s, 2m or 168h, got \"" + v + "\"");
      return fallback;
    }
    return Duration.ofMillis(millis.get());
  }

  /** A size in bytes (see the class comment). */
  public long size(Setting s, long fallback) {
    String v = text(s);
    if (v == null) {
      return fallback;
    }
    long bytes = parseSize(v);
    if (bytes < 1) {
      problem(s, bytes == 0 ? "must be at least 1 byte"
          : "expected a size such as 32MiB, 1MB or 65536, got \"" + v + "\"");
      return fallback;
    }
    return bytes;
  }

  /** A size in bytes, -1 when {@code text} is not one. */
  public static long parseSize(String text) {
    Matcher m = SIZE.matcher(text.strip());
    if (!m.matches()) {
      return -1;
    }
    return Long.parseLong(m.group(1)) * unit(m.group(2));
  }

  /** The address, or null (with a problem recorded) when it is not {@code HOST:PORT}. */
  public HostPort hostPort(Setting s, String fallback) {
    String v = text(s, fallback);
    return HostPort.parse(v).orElseGet(() -> {
      problem(s, "expected HOST:PORT, got \"" + v + "\"");
      return null;
    });
  }

  public <E extends Enum<E>> E choice(Setting s, Class<E> type, E fallback) {
    String v = text(s);
    if (v == null) {
      return fallback;
    }
    for (E option : type.getEnumConstants()) {
      if (option.name().equalsIgnoreCase(v)) {
        return option;
      }
    }
    problem(s, "expected one of " + Arrays.toString(type.getEnumConstants()) + ", got \"" + v + "\"");
    return fallback;
  }

  /** Records a problem with one setting. */
  public void problem(Setting s, String message) {
    problems.add(s.name() + ": " + message);
  }

  /** Records a problem of several settings together. */
  public void problem(String message) {
    problems.add(message);
  }

  /** Every problem recorded so far. */
  public List<String> problems() {
    return List.copyOf(problems);
  }

  /** Throws when anything was wrong, naming every problem. */
  public void check() throws ConfigException {
    if (!problems.isEmpty()) {
      throw new ConfigException(problems);
    }
  }

  private static long unit(String unit) {
    if (unit == null) {
      return 1;
    }
    return switch (unit.toLowerCase(Locale.ROOT)) {
      case "kb" -> 1_000L;
      case "kib" -> 1_024L;
      case "mb" -> 1_000_000L;
      case "mib" -> 1_048_576L;
      case "gb" -> 1_000_000_000L;
      case "gib" -> 1_073_741_824L;
      default -> 1L;
    };
  }
}
