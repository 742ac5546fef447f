package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Wire format an upstream speaks. OpenAI-compatible providers (vLLM, Groq, Together, Mistral,
 * Ollama's OpenAI API) use {@code openai}; Azure OpenAI, whose paths name a deployment and whose
 * key travels in {@code api-key}, uses {@code azure-openai}.
 */
public enum UpstreamFormat {
  @JsonProperty("anthropic")
  ANTHROPIC,
  @JsonProperty("openai")
  OPENAI,
  @JsonProperty("azure-openai")
  AZURE_OPENAI;

  /** The spelling used in policies. */
  public String wireName() {
    return switch (this) {
      case ANTHROPIC -> "anthropic";
      case OPENAI -> "openai";
      case AZURE_OPENAI -> "azure-openai";
    };
  }

  /** Whether bodies, usage, errors and streams are OpenAI's (true for Azure OpenAI too). */
  public boolean openAiWire() {
    return this != ANTHROPIC;
  }
}
