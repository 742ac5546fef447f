package dev.ratekeeper.operator.webhook;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ratekeeper.operator.webhook.inject.InjectionContext;
import dev.ratekeeper.operator.webhook.inject.InjectionOutcome;
import dev.ratekeeper.operator.webhook.inject.SidecarInjector;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers one AdmissionReview ({@code admission.k8s.io/v1}): reads the pod, looks up what the
 * injector needs, calls it, and turns its outcome into a response: a JSON Patch, an unchanged
 * admission (with warnings), or a denial with the injector's message.
 *
 * <p>When the cluster lookup fails the answer is HTTP 500, not a denial, so that the webhook
 * configuration's {@code failurePolicy} decides, as it does when the webhook is unreachable.
 */
public final class AdmissionHandler {
  private static final Logger LOG = LoggerFactory.getLogger(AdmissionHandler.class);
  static final String API_VERSION = "admission.k8s.io/v1";

  /** An HTTP status and a JSON (or plain text, for errors) body. */
  public record Reply(int status, String body) {}

  private final SidecarInjector injector;
  private final ClusterLookup lookup;
  private final WebhookMetrics metrics;
  private final KubernetesSerialization serialization = new KubernetesSerialization();
  private final ObjectMapper json = new ObjectMapper();

  public AdmissionHandler(SidecarInjector injector, ClusterLookup lookup, WebhookMetrics metrics) {
    this.injector = injector;
    this.lookup = lookup;
    this.metrics = metrics;
  }

  public Reply handle(byte[] body) {
    JsonNode request;
    try {
      request = json.readTree(body).path("request");
    } catch (IOException e) {
      metrics.failed();
      return new Reply(400, "expected an AdmissionReview (admission.k8s.io/v1) as JSON\n");
    }
    String uid = request.path("uid").asText("");
    if (uid.isEmpty() || !request.path("object").isObject()) {
      metrics.failed();
      return new Reply(400, "expected an AdmissionReview (admission.k8s.io/v1) with request.uid and request.object\n");
    }
    if (!"Pod".equals(request.path("kind").path("kind").asText()) || !"CREATE".equals(request.path("operation").asText())
        || !request.path("subResource").asText("").isEmpty()) {
      metrics.skipped();
      return allowed(uid, null, List.of());
    }
    Pod pod;
    try {
      pod = serialization.convertValue(request.get("object"), Pod.class);
    } catch (RuntimeException e) {
      metrics.failed();
      return new Reply(400, "request.object is not a Pod: " + e.getMessage() + "\n");
    }
    String namespace = request.path("namespace").asText("");
    if (namespace.isEmpty() && pod.getMetadata() != null && pod.getMetadata().getNamespace() != null) {
      namespace = pod.getMetadata().getNamespace();
    }
    if (SidecarInjector.precheck(pod).isPresent()) {
      metrics.skipped();
      return allowed(uid, null, List.of());
    }
    String who = namespace + "/" + podName(pod);
    InjectionContext ctx;
    try {
      ctx = lookup.contextFor(namespace, pod);
    } catch (RuntimeException e) {
      metrics.failed();
      LOG.warn("pod {}: cannot look up RateLimitPolicies: {}", who, e.getMessage());
      return new Reply(500, "cannot look up RateLimitPolicies in namespace " + namespace + ": " + e.getMessage() + "\n");
    }
    InjectionOutcome outcome = injector.inject(pod, ctx);
    if (outcome instanceof InjectionOutcome.Injected injected) {
      metrics.injected();
      ArrayNode patch = PodPatch.between(pod, injected.pod(), serialization);
      if (injected.policy() == null) {
        LOG.info("pod {}: pointed at the shared gateway ({} patch operations)", who, patch.size());
      } else {
        LOG.info("pod {}: injected the sidecar (policy {}, {} patch operations)", who, injected.policy(), patch.size());
      }
      injected.warnings().forEach(w -> LOG.info("pod {}: {}", who, w));
      return allowed(uid, patch, injected.warnings());
    }
    if (outcome instanceof InjectionOutcome.Refused refused) {
      metrics.refused();
      LOG.warn("pod {}: refused: {}", who, refused.message());
      return denied(uid, refused.message());
    }
    InjectionOutcome.Skipped skipped = (InjectionOutcome.Skipped) outcome;
    metrics.skipped();
    if (!skipped.warnings().isEmpty()) {
      LOG.warn("pod {}: admitted without sidecar: {}", who, skipped.detail());
    }
    return allowed(uid, null, skipped.warnings());
  }

  private Reply allowed(String uid, ArrayNode patch, List<String> warnings) {
    ObjectNode review = review();
    ObjectNode response = review.putObject("response");
    response.put("uid", uid);
    response.put("allowed", true);
    if (patch != null && !patch.isEmpty()) {
      response.put("patchType", "JSONPatch");
      response.put("patch", Base64.getEncoder().encodeToString(patch.toString().getBytes(StandardCharsets.UTF_8)));
    }
    if (!warnings.isEmpty()) {
      ArrayNode w = response.putArray("warnings");
      warnings.forEach(w::add);
    }
    return new Reply(200, review.toString());
  }

  private Reply denied(String uid, String message) {
    ObjectNode review = review();
    ObjectNode response = review.putObject("response");
    response.put("uid", uid);
    response.put("allowed", false);
    ObjectNode status = response.putObject("status");
    status.put("code", 403);
    status.put("reason", "Forbidden");
    status.put("message", message);
    return new Reply(200, review.toString());
  }

  private ObjectNode review() {
    ObjectNode review = json.createObjectNode();
    review.put("apiVersion", API_VERSION);
    review.put("kind", "AdmissionReview");
    return review;
  }

  private static String podName(Pod pod) {
    if (pod.getMetadata() == null) {
      return "?";
    }
    if (pod.getMetadata().getName() != null && !pod.getMetadata().getName().isEmpty()) {
      return pod.getMetadata().getName();
    }
    return pod.getMetadata().getGenerateName() == null ? "?" : pod.getMetadata().getGenerateName() + "*";
  }
}
