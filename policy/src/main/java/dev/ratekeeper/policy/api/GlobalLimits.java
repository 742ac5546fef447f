package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/** The provider quota and spend cap shared by every pod under the policy. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class GlobalLimits {
  @JsonPropertyDescription("Request rate shared by every user and pod under the policy.")
  public RequestRate requests;

  @JsonPropertyDescription("Token rate shared by every user and pod under the policy.")
  public TokenRate tokens;

  @JsonPropertyDescription("Spend cap shared by every user and pod under the policy.")
  public Budget budget;
}
