package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Min;

/** Token limits of each user of a tier. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class TierTokens {
  @JsonPropertyDescription("LLM tokens (input + output) per minute for each user: a token bucket's refill rate.")
  @Min(1)
  public Long perMinute;

  @JsonPropertyDescription("Token bucket size for perMinute. Absent: perMinute.")
  @Min(1)
  public Long burst;

  @JsonPropertyDescription("LLM tokens per UTC calendar hour for each user.")
  @Min(1)
  public Long perHour;

  @JsonPropertyDescription("LLM tokens per UTC calendar day for each user.")
  @Min(1)
  public Long perDay;

  @JsonPropertyDescription("Largest output cap (max_tokens) one request may ask for; also the cap the sidecar sets when a request names none.")
  @Min(1)
  public Long maxPerRequest;
}
