package dev.ratekeeper.policy.api;

/** What sidecars do while Redis cannot be reached. */
public enum StoreFailureMode {
  /** Forward requests unmetered; spend seen meanwhile is added to Redis once it is back. */
  FailOpen,
  /** Answer 503 in the provider's error shape. */
  FailClosed,
  /** Enforce in-memory limits at limit / live sidecars; spend seen meanwhile is added to Redis once it is back. */
  LocalFallback
}
