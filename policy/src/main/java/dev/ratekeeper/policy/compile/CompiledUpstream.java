package dev.ratekeeper.policy.compile;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.ratekeeper.policy.api.UpstreamFormat;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * An upstream; the credentials reference names a Secret key, never the key itself.
 *
 * @param deployments azure-openai: deployment name → the model it serves (sorted; empty otherwise)
 * @param deploymentNameIsModel azure-openai: an unlisted deployment is governed by the model of its name
 *     (else it is refused)
 * @param requestStreamUsage whether streamed chat and completions calls get
 *     {@code stream_options.include_usage} added when the client did not ask for it (absent: true)
 * @param outputCapField the field an output cap is written into when a chat call names none
 *     ({@code max_completion_tokens} when absent)
 */
public record CompiledUpstream(String name, String url, UpstreamFormat format, String credentialsSecretName,
    String credentialsSecretKey, Map<String, String> deployments, boolean deploymentNameIsModel,
    Boolean requestStreamUsage, String outputCapField) {
  /** The field an output cap goes into by default on chat completions (OpenAI's current one). */
  public static final String DEFAULT_OUTPUT_CAP_FIELD = "max_completion_tokens";

  @JsonCreator
  public CompiledUpstream(@JsonProperty("name") String name, @JsonProperty("url") String url,
      @JsonProperty("format") UpstreamFormat format,
      @JsonProperty("credentialsSecretName") String credentialsSecretName,
      @JsonProperty("credentialsSecretKey") String credentialsSecretKey,
      @JsonProperty("deployments") Map<String, String> deployments,
      @JsonProperty("deploymentNameIsModel") boolean deploymentNameIsModel,
      @JsonProperty("requestStreamUsage") Boolean requestStreamUsage,
      @JsonProperty("outputCapField") String outputCapField) {
    this.name = name;
    this.url = url;
    this.format = format;
    this.credentialsSecretName = credentialsSecretName;
    this.credentialsSecretKey = credentialsSecretKey;
    this.deployments = deployments == null ? Map.of() : java.util.Collections.unmodifiableMap(new TreeMap<>(deployments));
    this.deploymentNameIsModel = deploymentNameIsModel;
    this.requestStreamUsage = requestStreamUsage == null || requestStreamUsage;
    this.outputCapField = outputCapField == null ? DEFAULT_OUTPUT_CAP_FIELD : outputCapField;
  }

  /** An upstream that maps no deployments and asks for streamed usage. */
  public CompiledUpstream(String name, String url, UpstreamFormat format, String credentialsSecretName,
      String credentialsSecretKey) {
    this(name, url, format, credentialsSecretName, credentialsSecretKey, Map.of(), false, true, null);
  }

  /** The model an Azure deployment serves: its entry in {@link #deployments()}, else per {@link #deploymentNameIsModel()}. */
  public Optional<String> modelOf(String deployment) {
    String model = deployments.get(deployment);
    if (model != null) {
      return Optional.of(model);
    }
    return deploymentNameIsModel ? Optional.of(deployment) : Optional.empty();
  }

  /**
   * The deployment that serves {@code model}: the first (by name) the map assigns it, else — when
   * deployment names are models — the deployment of that name; empty when none does.
   */
  public Optional<String> deploymentOf(String model) {
    for (Map.Entry<String, String> entry : deployments.entrySet()) {
      if (entry.getValue().equals(model)) {
        return Optional.of(entry.getKey());
      }
    }
    return deploymentNameIsModel ? Optional.of(model) : Optional.empty();
  }

  /** Whether the sidecar adds {@code stream_options.include_usage} to streamed calls that lack it. */
  public boolean asksForStreamUsage() {
    return requestStreamUsage;
  }
}
