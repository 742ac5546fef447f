package dev.ratekeeper.policy.compile;

import dev.ratekeeper.policy.api.Identity;

/**
 * Header names with defaults applied. {@code apiKeySecretName} is null when users have no keys of
 * their own; {@code requireApiKey}: a request without an end-user key is refused; {@code runHeader}
 * names the agent's run (tiers' run limits).
 */
public record CompiledIdentity(String userHeader, String tierHeader, boolean trustTierHeader, String apiKeyHeader,
    String apiKeySecretName, boolean requireApiKey, String runHeader) {

  /** Without {@code requireApiKey}, with the default run header. */
  public CompiledIdentity(String userHeader, String tierHeader, boolean trustTierHeader, String apiKeyHeader,
      String apiKeySecretName) {
    this(userHeader, tierHeader, trustTierHeader, apiKeyHeader, apiKeySecretName, false, Identity.DEFAULT_RUN_HEADER);
  }

  /** With the default run header. */
  public CompiledIdentity(String userHeader, String tierHeader, boolean trustTierHeader, String apiKeyHeader,
      String apiKeySecretName, boolean requireApiKey) {
    this(userHeader, tierHeader, trustTierHeader, apiKeyHeader, apiKeySecretName, requireApiKey,
        Identity.DEFAULT_RUN_HEADER);
  }
}
