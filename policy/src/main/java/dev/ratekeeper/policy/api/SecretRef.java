package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;

/** A Secret in the policy's namespace. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class SecretRef {
  @JsonPropertyDescription("Name of the Secret, in the policy's namespace.")
  @Required
  @Size(min = 1, max = 253)
  @Pattern(Names.SECRET_NAME_PATTERN)
  public String name;
}
