package dev.ratekeeper.operator.webhook;

import static dev.ratekeeper.operator.webhook.WebhookFixtures.NAMESPACE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ratekeeper.operator.api.RateLimitPolicy;
import dev.ratekeeper.operator.webhook.tls.CertificateIssuer;
import dev.ratekeeper.operator.webhook.tls.TlsSecret;
import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import dev.ratekeeper.policy.api.SecretKeyRef;
import dev.ratekeeper.policy.api.Upstream;
import dev.ratekeeper.policy.api.UpstreamFormat;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.zjsonpatch.JsonPatch;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The webhook as the API server sees it: real HTTPS on a loopback port, an AdmissionReview v1 in
 * and out, the client trusting only the CA the webhook put into its Secret, and Fabric8's mock API
 * server (CRUD mode, one per test) holding the RateLimitPolicy and the MutatingWebhookConfiguration.
 */
@EnableKubernetesMockClient(crud = true)
class WebhookServerIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  KubernetesClient client;

  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  @BeforeEach
  void cluster() {
    client.admissionRegistration().v1().mutatingWebhookConfigurations()
        .resource(WebhookFixtures.webhookConfiguration()).create();
    RateLimitPolicy policy = new RateLimitPolicy();
    policy.setMetadata(new ObjectMetaBuilder().withName("support").withNamespace("agents").build());
    policy.setSpec(new RateLimitPolicySpec());
    Upstream anthropic = new Upstream("anthropic", "https://api.anthropic.com", UpstreamFormat.ANTHROPIC);
    anthropic.credentialsSecretRef = new SecretKeyRef();
    anthropic.credentialsSecretRef.name = "anthropic-key";
    anthropic.credentialsSecretRef.key = "api-key";
    policy.getSpec().upstreams = List.of(anthropic);
    client.resources(RateLimitPolicy.class).inNamespace("agents").resource(policy).create();
    client.configMaps().inNamespace("agents").resource(new ConfigMapBuilder().withNewMetadata()
        .withName("agent-env").endMetadata().addToData("OPENAI_BASE_URL", "https://proxy.example.com/v1").build())
        .create();
  }


  @Test
  void anAdmissionReviewRoundTripsOverHttpsTrustingOnlyTheGeneratedCa() throws Exception {
    try (WebhookServer webhook = WebhookServer.start(client, WebhookFixtures.config(), registry, Clock.systemUTC(),
        false)) {
      Secret secret = WebhookFixtures.secret(client);
      assertThat(secret.getType()).isEqualTo("kubernetes.io/tls");
      assertThat(secret.getData()).containsKeys(TlsSecret.TLS_CRT, TlsSecret.TLS_KEY, TlsSecret.CA_CRT);
      assertThat(WebhookFixtures.caBundle(client)).as("caBundle = the Secret's ca.crt")
          .isEqualTo(secret.getData().get(TlsSecret.CA_CRT));

      HttpClient https = WebhookFixtures.httpsTrusting(WebhookFixtures.secretCa(client));
      ObjectNode review = WebhookAdmissionHandlerTest.review("CREATE", WebhookAdmissionHandlerTest.pod(true));
      HttpResponse<String> response = WebhookFixtures.post(https, webhook.port(), review.toString());

      assertThat(response.statusCode()).isEqualTo(200);
      assertThat(response.headers().firstValue("Content-Type")).contains("application/json");
      JsonNode answer = JSON.readTree(response.body()).path("response");
      assertThat(answer.path("uid").asText()).isEqualTo("0b9e1d3c-uid");
      assertThat(answer.path("allowed").asBoolean()).isTrue();
      assertThat(answer.path("patchType").asText()).isEqualTo("JSONPatch");
      JsonNode patched = JsonPatch.apply(JSON.readTree(Base64.getDecoder().decode(answer.path("patch").asText())),
          review.path("request").path("object"));
      JsonNode sidecar = patched.path("spec").path("initContainers").get(0);
      assertThat(sidecar.path("name").asText()).isEqualTo("ratekeeper-sidecar");
      assertThat(sidecar.path("args").toString()).isEqualTo("[\"--policy\",\"agents/support\"]");
      assertThat(sidecar.path("env").toString()).contains("RATEKEEPER_UPSTREAM_KEY_ANTHROPIC").contains("anthropic-key");
      JsonNode app = patched.path("spec").path("containers").get(0);
      assertThat(app.path("env").toString()).as("OPENAI_BASE_URL comes from the app's ConfigMap")
          .contains("ANTHROPIC_BASE_URL").doesNotContain("OPENAI_BASE_URL").doesNotContain("anthropic-key");
      assertThat(answer.path("warnings").toString()).contains("OPENAI_BASE_URL kept as the pod sets it");

      assertThat(WebhookFixtures.get(https, webhook.port(), WebhookServer.HEALTH_PATH).statusCode()).isEqualTo(200);
      assertThat(registry.get("ratekeeper.webhook.admissions").tag("outcome", "injected").counter().count())
          .isEqualTo(1.0);
      assertThat(registry.get("ratekeeper.webhook.certificate.expiry.timestamp").gauge().value())
          .isEqualTo(webhook.servingCertificate().getNotAfter().toInstant().getEpochSecond());
    }
  }

  @Test
  void aClientThatDoesNotTrustTheGeneratedCaCannotConnect() throws Exception {
    try (WebhookServer webhook = WebhookServer.start(client, WebhookFixtures.config(), registry, Clock.systemUTC(),
        false)) {
      X509Certificate stranger = new CertificateIssuer().newCa("stranger", Instant.now(), Duration.ofDays(1))
          .certificate();
      HttpClient https = WebhookFixtures.httpsTrusting(stranger);
      assertThatThrownBy(() -> WebhookFixtures.get(https, webhook.port(), WebhookServer.HEALTH_PATH))
          .isInstanceOf(SSLHandshakeException.class);
    }
  }

  @Test
  void aPodInANamespaceWithoutPolicyIsDeniedOverHttps() throws Exception {
    try (WebhookServer webhook = WebhookServer.start(client, WebhookFixtures.config(), registry, Clock.systemUTC(),
        false)) {
      ObjectNode review = WebhookAdmissionHandlerTest.review("CREATE", WebhookAdmissionHandlerTest.pod(true));
      ((ObjectNode) review.path("request")).put("namespace", "empty");
      HttpResponse<String> response = WebhookFixtures.post(
          WebhookFixtures.httpsTrusting(WebhookFixtures.secretCa(client)), webhook.port(), review.toString());
      JsonNode answer = JSON.readTree(response.body()).path("response");
      assertThat(answer.path("allowed").asBoolean()).isFalse();
      assertThat(answer.path("status").path("message").asText())
          .isEqualTo("the pod opts in to rate limits (label ratekeeper.dev/inject), but namespace \"empty\" has no"
              + " RateLimitPolicy: create one, or remove the label ratekeeper.dev/inject from the pod");
    }
  }

  @Test
  void onlyPostIsAcceptedAndOversizedBodiesAreRefused() throws Exception {
    try (WebhookServer webhook = WebhookServer.start(client, WebhookFixtures.config(), registry, Clock.systemUTC(),
        false)) {
      HttpClient https = WebhookFixtures.httpsTrusting(WebhookFixtures.secretCa(client));
      assertThat(WebhookFixtures.get(https, webhook.port(), WebhookServer.MUTATE_PATH).statusCode()).isEqualTo(405);
      String huge = "{\"pad\":\"" + "x".repeat(WebhookServer.MAX_BODY) + "\"}";
      assertThat(WebhookFixtures.post(https, webhook.port(), huge).statusCode()).isEqualTo(413);
    }
  }

  @Test
  void aSecondReplicaServesTheCertificateTheFirstOneIssued() throws Exception {
    try (WebhookServer first = WebhookServer.start(client, WebhookFixtures.config(), registry, Clock.systemUTC(),
        false)) {
      String version = WebhookFixtures.secret(client).getMetadata().getResourceVersion();
      try (WebhookServer second = WebhookServer.start(client, WebhookFixtures.config(), new SimpleMeterRegistry(),
          Clock.systemUTC(), false)) {
        assertThat(second.servingCertificate()).isEqualTo(first.servingCertificate());
        assertThat(WebhookFixtures.secret(client).getMetadata().getResourceVersion()).isEqualTo(version);
        HttpClient https = WebhookFixtures.httpsTrusting(WebhookFixtures.secretCa(client));
        assertThat(WebhookFixtures.presented(https, second.port())).isEqualTo(first.servingCertificate());
      }
    }
  }
}
