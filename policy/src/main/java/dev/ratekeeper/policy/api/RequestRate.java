package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Min;

/** A token-bucket request rate. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class RequestRate {
  @JsonPropertyDescription("Requests per minute: the bucket's refill rate. Absent: unlimited.")
  @Min(1)
  public Long perMinute;

  @JsonPropertyDescription("Bucket size: the most requests admitted at once from idle. Absent: perMinute (a full minute's worth).")
  @Min(1)
  public Long burst;

  public RequestRate() {}

  public RequestRate(Long perMinute, Long burst) {
    this.perMinute = perMinute;
    this.burst = burst;
  }
}
