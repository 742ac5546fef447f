package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;

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

  @JsonPropertyDescription("Wire format: anthropic or openai (OpenAI-compatible providers use openai).")
  @Required
  public UpstreamFormat format;

  @JsonPropertyDescription("Secret key holding the provider API key; the sidecar sets the auth header itself and the app container never sees the key.")
  public SecretKeyRef credentialsSecretRef;

  public Upstream() {}

  public Upstream(String name, String url, UpstreamFormat format) {
    this.name = name;
    this.url = url;
    this.format = format;
  }
}
