package dev.ratekeeper.policy.api;

/** Name rules shared by tiers and upstreams. */
public final class Names {
  /** Lower-case letters, digits and dashes, starting with a letter: usable in a URL path and a Redis key. */
  public static final String PATTERN = "^[a-z]([a-z0-9-]*[a-z0-9])?$";

  private Names() {}
}
