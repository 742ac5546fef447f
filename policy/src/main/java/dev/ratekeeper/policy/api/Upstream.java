package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import java.util.List;

/** A provider the sidecar forwards to, routed by the path prefix /<name>/. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class Upstream {
  @JsonPropertyDescription("Route name: requests to /<name>/... go to this upstream.")
  @Required
  @Size(min = 1, max = 63)
  @Pattern(Names.PATTERN)
  public String name;

  @JsonPropertyDescription("Base URL, http or https with a host and an optional path, no query, e.g. https://api.anthropic.com.")
  @Required
  @Size(min = 1, max = 2048)
  @Pattern(Names.URL_PATTERN)
  public String url;

  @JsonPropertyDescription("Wire format: anthropic, openai (OpenAI-compatible providers such as vLLM, Groq, Together,"
      + " Mistral and Ollama use openai) or azure-openai (paths /openai/deployments/<deployment>/..., key in api-key).")
  @Required
  public UpstreamFormat format;

  @JsonPropertyDescription("Secret key holding the provider API key; the sidecar sets the auth header itself and the app container never sees the key.")
  public SecretKeyRef credentialsSecretRef;

  @JsonPropertyDescription("azure-openai only: the model each deployment serves, so quotas, prices and allow-lists apply"
      + " by model. The deployment comes from the path (/openai/deployments/<deployment>/...) or, on paths without one"
      + " (/openai/v1/..., /openai/responses), from the body's model.")
  @Size(max = 128)
  public List<AzureDeployment> deployments;

  @JsonPropertyDescription("azure-openai only: a call to a deployment not listed in deployments is refused (Refuse, the"
      + " default: 404 in Azure's error shape) or governed by the model named like the deployment (DeploymentNameIsModel).")
  public UnmappedDeployments unmappedDeployments;

  @JsonPropertyDescription("Whether the sidecar adds stream_options.include_usage to streamed chat and completions calls"
      + " whose client did not ask for it, to learn their real usage (default true). Set false for servers that refuse"
      + " the field (e.g. Azure api-versions before 2024-09-01-preview): their streams are charged by the usage they send"
      + " on their own, else at the estimate.")
  public Boolean requestStreamUsage;

  @JsonPropertyDescription("openai and azure-openai: the field the sidecar writes an output cap into when a chat"
      + " completions call names none (the tier's maxPerRequest): max_completion_tokens (default) or max_tokens, for"
      + " servers that refuse the newer field (Mistral, Azure api-versions before 2024-09-01-preview).")
  public OutputCapField outputCapField;

  public Upstream() {}

  public Upstream(String name, String url, UpstreamFormat format) {
    this.name = name;
    this.url = url;
    this.format = format;
  }
}
