package dev.ratekeeper.sidecar.wire;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ratekeeper.policy.api.UpstreamFormat;

/**
 * Error bodies in each provider's own shape, so the official SDKs raise their usual exceptions.
 * Anthropic: {@code {"type":"error","error":{"type":...,"message":...}}}. OpenAI:
 * {@code {"error":{"message":...,"type":...,"param":null,"code":...}}}; Azure OpenAI answers in OpenAI's shape
 * ({@code error.code} and {@code error.message} are what its SDKs read).
 */
public record ProviderError(int status, Kind kind, String message) {

  /** What went wrong, mapped once to each provider's error type and code. */
  public enum Kind {
    INVALID_REQUEST(400, "invalid_request_error", "invalid_request_error", null),
    UNSUPPORTED_MODEL(400, "invalid_request_error", "invalid_request_error", "model_not_allowed"),
    UNAUTHORIZED(401, "authentication_error", "invalid_request_error", "invalid_api_key"),
    FORBIDDEN(403, "permission_error", "invalid_request_error", "forbidden"),
    NOT_FOUND(404, "not_found_error", "invalid_request_error", "not_found"),
    /** Azure OpenAI: a deployment the policy does not map to a model (Azure says DeploymentNotFound for its own). */
    DEPLOYMENT_NOT_MAPPED(404, "not_found_error", "invalid_request_error", "DeploymentNotMapped"),
    METHOD_NOT_ALLOWED(405, "invalid_request_error", "invalid_request_error", "method_not_allowed"),
    REQUEST_TIMEOUT(408, "timeout_error", "invalid_request_error", "request_timeout"),
    TOO_LARGE(413, "request_too_large", "invalid_request_error", "request_too_large"),
    EXPECTATION_FAILED(417, "invalid_request_error", "invalid_request_error", "expectation_failed"),
    RATE_LIMITED(429, "rate_limit_error", "requests", "rate_limit_exceeded"),
    BUDGET_EXHAUSTED(429, "rate_limit_error", "insufficient_quota", "insufficient_quota"),
    INTERNAL(500, "api_error", "server_error", "internal_error"),
    UPSTREAM_FAILED(502, "api_error", "server_error", "bad_gateway"),
    BUSY(503, "overloaded_error", "server_error", "server_busy"),
    STORE_UNAVAILABLE(503, "api_error", "server_error", "service_unavailable"),
    UPSTREAM_TIMEOUT(504, "api_error", "server_error", "timeout");

    final int status;
    final String anthropicType;
    final String openaiType;
    final String openaiCode;

    Kind(int status, String anthropicType, String openaiType, String openaiCode) {
      this.status = status;
      this.anthropicType = anthropicType;
      this.openaiType = openaiType;
      this.openaiCode = openaiCode;
    }

    public int status() {
      return status;
    }
  }

  public static ProviderError of(Kind kind, String message) {
    return new ProviderError(kind.status, kind, message);
  }

  /** The JSON body in {@code format}'s shape. */
  public String body(UpstreamFormat format) {
    JsonNodeFactory f = JsonNodeFactory.instance;
    ObjectNode error = f.objectNode();
    if (!format.openAiWire()) {
      error.put("type", kind.anthropicType);
      error.put("message", message);
      ObjectNode root = f.objectNode();
      root.put("type", "error");
      root.set("error", error);
      return root.toString();
    }
    error.put("message", message);
    error.put("type", kind.openaiType);
    error.putNull("param");
    if (kind.openaiCode == null) {
      error.putNull("code");
    } else {
      error.put("code", kind.openaiCode);
    }
    ObjectNode root = f.objectNode();
    root.set("error", error);
    return root.toString();
  }
}
