package dev.ratekeeper.policy.api;

/** Whether limits block requests ({@code Enforce}) or are only decided and reported ({@code Shadow}). */
public enum Mode {
  Enforce,
  Shadow
}
