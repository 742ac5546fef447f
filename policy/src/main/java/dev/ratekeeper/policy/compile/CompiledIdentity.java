package dev.ratekeeper.policy.compile;

import dev.ratekeeper.policy.api.Identity;

/**
 * Header names with defaults applied. {@code apiKeySecretName} is null when users have no keys of
 * their own; {@code runHeader} names the agent's run (tiers' run limits).
 */
public record CompiledIdentity(String userHeader, String tierHeader, boolean trustTierHeader, String apiKeyHeader,
    String apiKeySecretName, String runHeader) {

  /** With the default run header. */
  public CompiledIdentity(String userHeader, String tierHeader, boolean trustTierHeader, String apiKeyHeader,
      String apiKeySecretName) {
    this(userHeader, tierHeader, trustTierHeader, apiKeyHeader, apiKeySecretName, Identity.DEFAULT_RUN_HEADER);
  }
}
