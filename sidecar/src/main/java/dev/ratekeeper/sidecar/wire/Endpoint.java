package dev.ratekeeper.sidecar.wire;

import dev.ratekeeper.policy.api.UpstreamFormat;

/**
 * The provider calls Ratekeeper meters with full admission ({@link EndpointTable} classifies
 * everything else).
 */
public enum Endpoint {
  ANTHROPIC_MESSAGES(UpstreamFormat.ANTHROPIC, "/v1/messages", "max_tokens", true),
  /** Admitted as the sum of its requests, each checked as a message call, at the batch price. */
  ANTHROPIC_MESSAGE_BATCHES(UpstreamFormat.ANTHROPIC, "/v1/messages/batches", null, false),
  OPENAI_CHAT(UpstreamFormat.OPENAI, "/v1/chat/completions", "max_completion_tokens", true),
  OPENAI_RESPONSES(UpstreamFormat.OPENAI, "/v1/responses", "max_output_tokens", true),
  OPENAI_COMPLETIONS(UpstreamFormat.OPENAI, "/v1/completions", "max_tokens", true),
  OPENAI_EMBEDDINGS(UpstreamFormat.OPENAI, "/v1/embeddings", null, true);

  private final UpstreamFormat format;
  private final String path;
  private final String defaultCapField;
  private final boolean bareRoute;

  Endpoint(UpstreamFormat format, String path, String defaultCapField, boolean bareRoute) {
    this.format = format;
    this.path = path;
    this.defaultCapField = defaultCapField;
    this.bareRoute = bareRoute;
  }

  public UpstreamFormat format() {
    return format;
  }

  public String path() {
    return path;
  }

  /** The field the sidecar writes when it sets an output cap the request did not name; null: no output. */
  public String defaultCapField() {
    return defaultCapField;
  }

  public boolean producesOutput() {
    return defaultCapField != null;
  }

  /** Whether the bare path (without {@code /<upstream>}) routes to the first upstream of the format. */
  public boolean bareRoute() {
    return bareRoute;
  }

  public boolean batch() {
    return this == ANTHROPIC_MESSAGE_BATCHES;
  }
}
