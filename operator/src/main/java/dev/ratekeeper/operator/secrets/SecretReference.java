package dev.ratekeeper.operator.secrets;

/**
 * A Secret (in the policy's namespace) that a policy names.
 *
 * @param secretName the Secret's name
 * @param key the data key that must exist, or null when the whole Secret is used
 * @param fieldPath where the spec names it, for messages
 * @param consequence what a missing Secret (or key) means for requests, for messages
 */
public record SecretReference(String secretName, String key, String fieldPath, String consequence) {}
