package dev.ratekeeper.sidecar.identity;

/** The end user a request is for, and the tier whose limits apply. */
public record Caller(String user, String tier) {
  public static final String ANONYMOUS = "anonymous";
}
