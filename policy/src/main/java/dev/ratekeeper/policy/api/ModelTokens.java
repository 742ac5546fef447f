package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Min;

/** Token quotas of one model, shared by everyone under the policy. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class ModelTokens {
  @JsonPropertyDescription("LLM tokens (input + output) per minute for this model: a token bucket's refill rate.")
  @Min(1)
  public Long perMinute;

  @JsonPropertyDescription("Token bucket size for perMinute. Absent: perMinute.")
  @Min(1)
  public Long burst;

  @JsonPropertyDescription("LLM tokens per UTC calendar day for this model.")
  @Min(1)
  public Long perDay;
}
