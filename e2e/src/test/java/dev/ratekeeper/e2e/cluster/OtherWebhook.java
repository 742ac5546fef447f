package dev.ratekeeper.e2e.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import dev.ratekeeper.operator.webhook.tls.CertificateIssuer;
import dev.ratekeeper.operator.webhook.tls.KeyAndCertificate;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfigurationBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

/**
 * Another team's mutating webhook, as a cluster may have (a service mesh injector): registered after
 * Ratekeeper's (webhooks are called in the order of their configurations' names), it labels
 * opted-in Pods it has not labelled yet, which makes the API server call Ratekeeper's webhook again.
 * Served over HTTPS from this JVM behind a Service of its own.
 */
final class OtherWebhook implements AutoCloseable {
  static final String LABEL = "other.example/touched";
  static final String NAME = "zz-other-injector";
  private static final ObjectMapper JSON = new ObjectMapper();

  private final ControlPlane plane;
  private final String namespace;
  private final HttpsServer server;
  private final AtomicInteger calls = new AtomicInteger();

  OtherWebhook(ControlPlane plane, String namespace) {
    this.plane = plane;
    this.namespace = namespace;
    CertificateIssuer issuer = new CertificateIssuer();
    Instant now = Instant.now();
    KeyAndCertificate ca = issuer.newCa("other-webhook-ca", now, Duration.ofDays(1));
    KeyAndCertificate serving = issuer.serving(ca, List.of(NAME + "." + namespace + ".svc"), now, Duration.ofDays(1));
    try {
      server = HttpsServer.create(new InetSocketAddress("0.0.0.0", 0), 0); // its port: getAddress()
      server.setHttpsConfigurator(new HttpsConfigurator(sslContext(serving)));
    } catch (IOException | GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
    server.createContext("/mutate", exchange -> {
      calls.incrementAndGet();
      JsonNode review = JSON.readTree(exchange.getRequestBody());
      JsonNode request = review.path("request");
      var response = JSON.createObjectNode().put("uid", request.path("uid").asText()).put("allowed", true);
      if (!request.path("object").path("metadata").path("labels").has(LABEL)) {
        String patch = "[{\"op\":\"add\",\"path\":\"/metadata/labels/" + LABEL.replace("/", "~1")
            + "\",\"value\":\"true\"}]";
        response.put("patchType", "JSONPatch")
            .put("patch", Base64.getEncoder().encodeToString(patch.getBytes(StandardCharsets.UTF_8)));
      }
      byte[] body = JSON.writeValueAsBytes(JSON.createObjectNode().put("apiVersion", "admission.k8s.io/v1")
          .put("kind", "AdmissionReview").set("response", response));
      exchange.getResponseHeaders().add("content-type", "application/json");
      exchange.sendResponseHeaders(200, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
    });
    server.start();

    plane.admin().services().inNamespace(namespace).resource(new ServiceBuilder().withNewMetadata().withName(NAME)
        .withNamespace(namespace).endMetadata().withNewSpec().addNewPort().withName("https").withPort(443)
        .endPort().endSpec().build()).create();
    plane.routeService(namespace, NAME, "https", server.getAddress().getPort());
    String caBundle;
    try {
      caBundle = Base64.getEncoder().encodeToString(("-----BEGIN CERTIFICATE-----\n"
          + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(ca.certificate()
          .getEncoded()) + "\n-----END CERTIFICATE-----\n").getBytes(StandardCharsets.US_ASCII));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
    plane.admin().admissionRegistration().v1().mutatingWebhookConfigurations().resource(
        new MutatingWebhookConfigurationBuilder().withNewMetadata().withName(NAME).endMetadata()
            .addNewWebhook().withName("injector.other.example").withAdmissionReviewVersions("v1").withSideEffects("None")
            .withFailurePolicy("Fail").withReinvocationPolicy("Never")
            .withNewClientConfig().withCaBundle(caBundle).withNewService().withName(NAME).withNamespace(namespace)
            .withPath("/mutate").withPort(443).endService().endClientConfig()
            .addNewRule().withOperations("CREATE").withApiGroups("").withApiVersions("v1").withResources("pods")
            .withScope("Namespaced").endRule()
            .withNewObjectSelector().addToMatchLabels("ratekeeper.dev/inject", "true").endObjectSelector()
            .endWebhook().build()).create();
  }

  int calls() {
    return calls.get();
  }

  private static SSLContext sslContext(KeyAndCertificate serving) throws GeneralSecurityException, IOException {
    KeyStore store = KeyStore.getInstance("PKCS12");
    store.load(null, null);
    store.setKeyEntry("serving", serving.key(), new char[0],
        serving.chain().toArray(Certificate[]::new));
    KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    keys.init(store, new char[0]);
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(keys.getKeyManagers(), null, null);
    return context;
  }

  @Override
  public void close() {
    plane.admin().admissionRegistration().v1().mutatingWebhookConfigurations().withName(NAME).delete();
    plane.admin().services().inNamespace(namespace).withName(NAME).delete();
    server.stop(0);
  }
}
