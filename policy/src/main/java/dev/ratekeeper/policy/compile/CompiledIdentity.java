package dev.ratekeeper.policy.compile;

/** Header names with defaults applied. {@code apiKeySecretName} is null when users have no keys of their own. */
public record CompiledIdentity(String userHeader, String tierHeader, boolean trustTierHeader, String apiKeyHeader,
    String apiKeySecretName) {}
