package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/** Wire format an upstream speaks. OpenAI-compatible providers use {@code openai}. */
public enum UpstreamFormat {
  @JsonProperty("anthropic")
  ANTHROPIC,
  @JsonProperty("openai")
  OPENAI;

  /** The spelling used in policies. */
  public String wireName() {
    return this == ANTHROPIC ? "anthropic" : "openai";
  }
}
