package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;

/** An Azure OpenAI deployment and the model it serves, so the model's quotas and prices apply to it. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class AzureDeployment {
  /** Azure's own rule for deployment names, which also keeps the name one unreserved path segment. */
  public static final String NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]*$";
  public static final int MAX_NAME_LENGTH = 64;

  @JsonPropertyDescription("Deployment name, as in /openai/deployments/<name>/... (letters, digits, '.', '_', '-').")
  @Required
  @Size(min = 1, max = MAX_NAME_LENGTH)
  @Pattern(NAME_PATTERN)
  public String name;

  @JsonPropertyDescription("The model the deployment serves, e.g. gpt-4o: spec.models[] entries and tier allow-lists that"
      + " match this name govern calls to the deployment.")
  @Required
  @Size(min = 1, max = 128)
  public String model;

  public AzureDeployment() {}

  public AzureDeployment(String name, String model) {
    this.name = name;
    this.model = model;
  }
}
