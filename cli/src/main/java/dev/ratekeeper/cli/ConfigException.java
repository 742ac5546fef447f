package dev.ratekeeper.cli;

import java.util.List;

/**
 * A program cannot start with these flags and variables; {@link #problems()} lists every one, each
 * starting with the flag (or variable) it is about. No problem ever holds a secret: Redis URLs are
 * redacted before they are quoted, passwords and keys are never quoted.
 */
public final class ConfigException extends Exception {
  private final List<String> problems;

  public ConfigException(List<String> problems) {
    super(String.join("; ", problems));
    this.problems = List.copyOf(problems);
  }

  public List<String> problems() {
    return problems;
  }
}
