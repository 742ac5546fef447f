package dev.ratekeeper.cli;

import java.util.Objects;

/**
 * One setting a program reads: a flag and the environment variable that stands in for it (a flag
 * wins over its variable), or a variable alone ({@code flag} null).
 *
 * @param flag the long flag, such as {@code --listen}; null for a variable without a flag
 * @param env the environment variable, such as {@code RATEKEEPER_LISTEN}
 * @param label what the value is, for the help: {@code HOST:PORT}, {@code DUR}, {@code SIZE}...
 * @param description one line for the help, with the default
 * @param kind how the flag takes its value
 */
public record Setting(String flag, String env, String label, String description, Kind kind) {
  /** How a flag takes its value. */
  public enum Kind {
    /** {@code --flag VALUE} or {@code --flag=VALUE}, at most once. */
    VALUE,
    /** {@code --flag VALUE}, as often as wanted; the variable holds the values comma-separated. */
    REPEATABLE,
    /** {@code --flag} alone means true; {@code --flag=false} says false. */
    SWITCH
  }

  public Setting {
    Objects.requireNonNull(env, "env");
    Objects.requireNonNull(kind, "kind");
    if (flag != null && !flag.startsWith("--")) {
      throw new IllegalArgumentException("a flag starts with --: " + flag);
    }
  }

  public static Setting value(String flag, String env, String label, String description) {
    return new Setting(flag, env, label, description, Kind.VALUE);
  }

  public static Setting repeatable(String flag, String env, String label, String description) {
    return new Setting(flag, env, label, description, Kind.REPEATABLE);
  }

  public static Setting flagSwitch(String flag, String env, String description) {
    return new Setting(flag, env, "BOOL", description, Kind.SWITCH);
  }

  /** A variable with no flag. */
  public static Setting variable(String env, String description) {
    return new Setting(null, env, null, description, Kind.VALUE);
  }

  /** The same setting with another help line (programs word the default their own way). */
  public Setting describedAs(String text) {
    return new Setting(flag, env, label, text, kind);
  }

  /** The name problems are reported under: the flag, else the variable. */
  public String name() {
    return flag != null ? flag : env;
  }
}
