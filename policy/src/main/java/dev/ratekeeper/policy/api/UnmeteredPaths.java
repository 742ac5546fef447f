package dev.ratekeeper.policy.api;

/** What the sidecar does with provider paths that carry no metered body (models list, files, ...). */
public enum UnmeteredPaths {
  /** Forward them, counting only the tier, model-less request rates. */
  RequestsOnly,
  /** Forward them without any limit. */
  PassThrough,
  /** Answer 403 in the provider's error shape. */
  Deny
}
