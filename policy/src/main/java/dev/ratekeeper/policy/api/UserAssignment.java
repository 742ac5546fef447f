package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;

/** Puts one end user in a tier. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class UserAssignment {
  @JsonPropertyDescription("End-user id, as the agent sends it in the user header.")
  @Required
  @Size(min = 1, max = 256)
  public String id;

  @JsonPropertyDescription("Name of one of spec.tiers.")
  @Required
  @Size(min = 1, max = 63)
  public String tier;

  public UserAssignment() {}

  public UserAssignment(String id, String tier) {
    this.id = id;
    this.tier = tier;
  }
}
