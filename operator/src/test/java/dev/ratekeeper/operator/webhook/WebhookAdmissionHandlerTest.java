package dev.ratekeeper.operator.webhook;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ratekeeper.operator.api.RateLimitPolicy;
import dev.ratekeeper.operator.webhook.inject.InjectionContext.EnvSource;
import dev.ratekeeper.operator.webhook.inject.InjectionSettings;
import dev.ratekeeper.operator.webhook.inject.SidecarInjector;
import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.zjsonpatch.JsonPatch;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The AdmissionReview in, AdmissionReview out part of the webhook, with the cluster faked. */
class WebhookAdmissionHandlerTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final InjectionSettings SETTINGS = InjectionSettings.defaults("redis://redis.rk.svc:6379");

  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final FakeCluster cluster = new FakeCluster();
  private final AdmissionHandler handler = new AdmissionHandler(new SidecarInjector(SETTINGS), cluster,
      new WebhookMetrics(registry));

  @Test
  void anOptedInPodGetsAJsonPatchThatAddsTheSidecar() throws Exception {
    cluster.policies.add(policy("default"));
    ObjectNode review = review("CREATE", pod(true));
    AdmissionHandler.Reply reply = handler.handle(bytes(review));

    assertThat(reply.status()).isEqualTo(200);
    JsonNode body = JSON.readTree(reply.body());
    assertThat(body.path("apiVersion").asText()).isEqualTo("admission.k8s.io/v1");
    assertThat(body.path("kind").asText()).isEqualTo("AdmissionReview");
    JsonNode response = body.path("response");
    assertThat(response.path("uid").asText()).isEqualTo("0b9e1d3c-uid");
    assertThat(response.path("allowed").asBoolean()).isTrue();
    assertThat(response.path("patchType").asText()).isEqualTo("JSONPatch");
    JsonNode patch = JSON.readTree(Base64.getDecoder().decode(response.path("patch").asText()));
    JsonNode patched = JsonPatch.apply(patch, review.path("request").path("object"));
    assertThat(patched.path("spec").path("initContainers").get(0).path("name").asText()).isEqualTo("ratekeeper-sidecar");
    assertThat(patched.path("metadata").path("annotations").has(SidecarInjector.STATUS_ANNOTATION)).isTrue();
    assertThat(counter("injected")).isEqualTo(1.0);
    assertThat(cluster.lookedUp).containsExactly(new EnvSource(EnvSource.Kind.ConfigMap, "agent-env"));
  }

  @Test
  void aPodWithoutAPolicyIsDeniedWithTheInjectorsMessage() throws Exception {
    AdmissionHandler.Reply reply = handler.handle(bytes(review("CREATE", pod(true))));
    JsonNode response = JSON.readTree(reply.body()).path("response");
    assertThat(reply.status()).isEqualTo(200);
    assertThat(response.path("allowed").asBoolean()).isFalse();
    assertThat(response.path("status").path("code").asInt()).isEqualTo(403);
    assertThat(response.path("status").path("message").asText()).contains("has no RateLimitPolicy");
    assertThat(response.has("patch")).isFalse();
    assertThat(counter("refused")).isEqualTo(1.0);
  }

  @Test
  void aFailedLookupIsAnHttpErrorSoTheFailurePolicyDecides() throws Exception {
    cluster.fail = true;
    AdmissionHandler.Reply reply = handler.handle(bytes(review("CREATE", pod(true))));
    assertThat(reply.status()).isEqualTo(500);
    assertThat(reply.body()).contains("cannot look up RateLimitPolicies in namespace agents");
    assertThat(counter("failed")).isEqualTo(1.0);
  }

  @Test
  void podsNotOptedInAreAdmittedWithoutLookingAnythingUp() throws Exception {
    cluster.fail = true;
    JsonNode response = JSON.readTree(handler.handle(bytes(review("CREATE", pod(false)))).body()).path("response");
    assertThat(response.path("allowed").asBoolean()).isTrue();
    assertThat(response.has("patch")).isFalse();
    assertThat(counter("skipped")).isEqualTo(1.0);
  }

  @Test
  void onlyPodCreationsAreMutated() throws Exception {
    cluster.policies.add(policy("default"));
    JsonNode update = JSON.readTree(handler.handle(bytes(review("UPDATE", pod(true)))).body()).path("response");
    assertThat(update.path("allowed").asBoolean()).isTrue();
    assertThat(update.has("patch")).isFalse();
  }

  @Test
  void somethingElseThanAnAdmissionReviewIsABadRequest() {
    assertThat(handler.handle("not json".getBytes(StandardCharsets.UTF_8)).status()).isEqualTo(400);
    assertThat(handler.handle("{\"request\":{}}".getBytes(StandardCharsets.UTF_8)).status()).isEqualTo(400);
    assertThat(counter("failed")).isEqualTo(2.0);
  }

  private double counter(String outcome) {
    return registry.get("ratekeeper.webhook.admissions").tag("outcome", outcome).counter().count();
  }

  private static byte[] bytes(JsonNode node) {
    return node.toString().getBytes(StandardCharsets.UTF_8);
  }

  static ObjectNode review(String operation, ObjectNode pod) {
    ObjectNode review = JSON.createObjectNode();
    review.put("apiVersion", "admission.k8s.io/v1");
    review.put("kind", "AdmissionReview");
    ObjectNode request = review.putObject("request");
    request.put("uid", "0b9e1d3c-uid");
    request.putObject("kind").put("group", "").put("version", "v1").put("kind", "Pod");
    request.putObject("resource").put("group", "").put("version", "v1").put("resource", "pods");
    request.put("namespace", "agents");
    request.put("operation", operation);
    request.set("object", pod);
    return review;
  }

  static ObjectNode pod(boolean optedIn) {
    ObjectNode pod = JSON.createObjectNode();
    pod.put("apiVersion", "v1");
    pod.put("kind", "Pod");
    ObjectNode meta = pod.putObject("metadata");
    meta.put("generateName", "agent-");
    if (optedIn) {
      meta.putObject("labels").put(SidecarInjector.INJECT_LABEL, "true");
    }
    ObjectNode container = pod.putObject("spec").putArray("containers").addObject();
    container.put("name", "agent");
    container.put("image", "example.com/agent:1");
    container.put("terminationMessagePath", "/dev/termination-log");
    container.putArray("envFrom").addObject().putObject("configMapRef").put("name", "agent-env");
    return pod;
  }

  static RateLimitPolicy policy(String name) {
    RateLimitPolicy policy = new RateLimitPolicy();
    policy.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace("agents").build());
    policy.setSpec(new RateLimitPolicySpec());
    return policy;
  }

  /** A cluster with some policies, whose envFrom sources all have no keys, and which can be made to fail. */
  private static final class FakeCluster implements ClusterLookup {
    final List<RateLimitPolicy> policies = new ArrayList<>();
    final List<EnvSource> lookedUp = new ArrayList<>();
    boolean fail;

    @Override
    public List<RateLimitPolicy> policies(String namespace) {
      if (fail) {
        throw new KubernetesClientException("connection refused");
      }
      return policies;
    }

    @Override
    public SourceKeys keys(String namespace, EnvSource source) {
      lookedUp.add(source);
      return new SourceKeys.Known(Set.of());
    }
  }
}
