package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/** The field the sidecar writes an output cap into when a chat completions call names none. */
public enum OutputCapField {
  /** OpenAI's current field (required by its reasoning models). The default. */
  @JsonProperty("max_completion_tokens")
  MAX_COMPLETION_TOKENS("max_completion_tokens"),
  /** The older field, for servers that refuse the newer one (Mistral; Azure api-versions before 2024-09-01-preview). */
  @JsonProperty("max_tokens")
  MAX_TOKENS("max_tokens");

  private final String field;

  OutputCapField(String field) {
    this.field = field;
  }

  /** The JSON field name. */
  public String field() {
    return field;
  }
}
