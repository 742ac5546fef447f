package dev.ratekeeper.policy.compile;

/**
 * Header names with defaults applied. {@code apiKeySecretName} is null when users have no keys of
 * their own; {@code requireApiKey}: a request without an end-user key is refused.
 */
public record CompiledIdentity(String userHeader, String tierHeader, boolean trustTierHeader, String apiKeyHeader,
    String apiKeySecretName, boolean requireApiKey) {

  /** Without {@code requireApiKey}. */
  public CompiledIdentity(String userHeader, String tierHeader, boolean trustTierHeader, String apiKeyHeader,
      String apiKeySecretName) {
    this(userHeader, tierHeader, trustTierHeader, apiKeyHeader, apiKeySecretName, false);
  }
}
