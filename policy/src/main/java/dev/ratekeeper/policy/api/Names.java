package dev.ratekeeper.policy.api;

/** Name rules of the policy: tiers and upstreams, HTTP header names, Secret references. */
public final class Names {
  /** Lower-case letters, digits and dashes, starting with a letter: usable in a URL path and a Redis key. */
  public static final String PATTERN = "^[a-z]([a-z0-9-]*[a-z0-9])?$";

  /** An HTTP header name: an RFC 9110 token. */
  public static final String HEADER_PATTERN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

  /** A Kubernetes object name such as a Secret's: an RFC 1123 subdomain (at most 253 characters). */
  public static final String SECRET_NAME_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

  /** A key of a Secret's data. */
  public static final String SECRET_KEY_PATTERN = "^[-._a-zA-Z0-9]+$";

  /** An http or https base URL: scheme, host, optional path; no query or fragment. */
  public static final String URL_PATTERN = "^https?://[^/?#]+(/[^?#]*)?$";

  private Names() {}
}
