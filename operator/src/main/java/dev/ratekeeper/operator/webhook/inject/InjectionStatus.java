package dev.ratekeeper.operator.webhook.inject;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code ratekeeper.dev/status} annotation: what was injected, as one line of JSON, e.g.
 * <pre>{"version":"1","policy":"agents/default","sidecar":"ratekeeper-sidecar","mode":"Native",
 * "image":"...","env":{"app":["ANTHROPIC_BASE_URL","OPENAI_BASE_URL"]}}</pre>
 * {@code env} lists, per app container, the variables the webhook added (a container that defines
 * them itself has fewer). Its presence alone marks the pod as injected.
 */
record InjectionStatus(String policy, SidecarMode mode, String image, Map<String, List<String>> env) {
  /** Version of this annotation's format and of what the injector adds. */
  static final String VERSION = "1";

  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * The annotation of a pod pointed at the shared gateway instead of given a sidecar, e.g.
   * <pre>{"version":"1","gateway":"http://ratekeeper-gateway.ratekeeper.svc:8787","env":{"app":[...]}}</pre>
   */
  static String gatewayJson(String gatewayUrl, Map<String, List<String>> env) {
    Map<String, Object> fields = new LinkedHashMap<>();
    fields.put("version", VERSION);
    fields.put("gateway", gatewayUrl);
    fields.put("env", env);
    return write(fields);
  }

  String toJson() {
    Map<String, Object> fields = new LinkedHashMap<>();
    fields.put("version", VERSION);
    fields.put("policy", policy);
    fields.put("sidecar", SidecarContainer.NAME);
    fields.put("mode", mode.name());
    fields.put("image", image);
    fields.put("env", env);
    return write(fields);
  }

  private static String write(Map<String, Object> fields) {
    try {
      return JSON.writeValueAsString(fields);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write the status annotation", e);
    }
  }
}
