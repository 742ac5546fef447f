package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Min;

/** A token-bucket rate of LLM tokens (input plus output), shared by everyone under the policy. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class TokenRate {
  @JsonPropertyDescription("LLM tokens (input + output) per minute: the bucket's refill rate. Absent: unlimited.")
  @Min(1)
  public Long perMinute;

  @JsonPropertyDescription("Bucket size in tokens. Absent: perMinute.")
  @Min(1)
  public Long burst;
}
