package dev.ratekeeper.sidecar.wire;

import dev.ratekeeper.policy.api.UpstreamFormat;
import java.util.Optional;

/** The provider calls Ratekeeper meters with full admission. Everything else follows {@code unmeteredPaths}. */
public enum Endpoint {
  ANTHROPIC_MESSAGES(UpstreamFormat.ANTHROPIC, "/v1/messages", "max_tokens"),
  OPENAI_CHAT(UpstreamFormat.OPENAI, "/v1/chat/completions", "max_completion_tokens"),
  OPENAI_RESPONSES(UpstreamFormat.OPENAI, "/v1/responses", "max_output_tokens"),
  OPENAI_COMPLETIONS(UpstreamFormat.OPENAI, "/v1/completions", "max_tokens"),
  OPENAI_EMBEDDINGS(UpstreamFormat.OPENAI, "/v1/embeddings", null);

  private final UpstreamFormat format;
  private final String path;
  private final String defaultCapField;

  Endpoint(UpstreamFormat format, String path, String defaultCapField) {
    this.format = format;
    this.path = path;
    this.defaultCapField = defaultCapField;
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

  /** The metered endpoint for an upstream-relative path (query string ignored), if it is one. */
  public static Optional<Endpoint> of(UpstreamFormat format, String path) {
    int query = path.indexOf('?');
    String bare = query >= 0 ? path.substring(0, query) : path;
    if (bare.endsWith("/") && bare.length() > 1) {
      bare = bare.substring(0, bare.length() - 1);
    }
    for (Endpoint endpoint : values()) {
      if (endpoint.format == format && endpoint.path.equals(bare)) {
        return Optional.of(endpoint);
      }
    }
    return Optional.empty();
  }

  /** The format whose bare paths include {@code path} ({@code /v1/messages} → anthropic), if any. */
  public static Optional<UpstreamFormat> formatOfBarePath(String path) {
    int query = path.indexOf('?');
    String bare = query >= 0 ? path.substring(0, query) : path;
    for (Endpoint endpoint : values()) {
      if (endpoint.path.equals(bare)) {
        return Optional.of(endpoint.format);
      }
    }
    return Optional.empty();
  }
}
