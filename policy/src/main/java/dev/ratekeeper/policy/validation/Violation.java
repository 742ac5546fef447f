package dev.ratekeeper.policy.validation;

/** One problem with a policy: the offending field path and what to do about it. */
public record Violation(String path, String message) {
  @Override
  public String toString() {
    return path + ": " + message;
  }
}
