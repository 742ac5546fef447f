package dev.ratekeeper.operator.webhook.inject;

/** What to do with an opted-in pod when no single RateLimitPolicy can be chosen for it. */
public enum MissingPolicyAction {
  /** Deny the pod with a message naming the problem: an opted-in agent never runs without limits. */
  Refuse,
  /** Admit the pod unchanged, with an admission warning. */
  AdmitUninjected
}
