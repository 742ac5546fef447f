package dev.ratekeeper.operator.webhook;

import dev.ratekeeper.operator.webhook.inject.InjectionSettings;
import dev.ratekeeper.operator.webhook.tls.Pem;
import dev.ratekeeper.operator.webhook.tls.TlsSecret;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfigurationBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.Base64;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/** What the webhook integration tests share: a config, the webhook configuration, HTTPS clients, a clock. */
final class WebhookFixtures {
  static final String NAMESPACE = "ratekeeper";
  static final String SECRET = "ratekeeper-webhook-tls";
  static final String CONFIG_NAME = "ratekeeper-sidecar-injector";

  private WebhookFixtures() {}

  /** A webhook on a free loopback port whose certificate also names localhost. */
  static WebhookConfig config(Duration caValidity, Duration certValidity, Duration renewBefore) {
    return new WebhookConfig(true, new InetSocketAddress("127.0.0.1", 0), "ratekeeper-webhook", NAMESPACE, SECRET,
        CONFIG_NAME, List.of("localhost"), caValidity, certValidity, renewBefore, Duration.ofMinutes(1),
        InjectionSettings.defaults("redis://redis.ratekeeper.svc:6379"));
  }

  static WebhookConfig config() {
    return config(WebhookConfig.DEFAULT_CA_VALIDITY, WebhookConfig.DEFAULT_CERT_VALIDITY,
        WebhookConfig.DEFAULT_RENEW_BEFORE);
  }

  /** The configuration the Helm chart installs, with an empty caBundle for the webhook to fill in. */
  static MutatingWebhookConfiguration webhookConfiguration() {
    return new MutatingWebhookConfigurationBuilder()
        .withNewMetadata().withName(CONFIG_NAME).endMetadata()
        .addNewWebhook()
        .withName("inject.ratekeeper.dev")
        .withAdmissionReviewVersions("v1")
        .withSideEffects("None")
        .withFailurePolicy("Fail")
        .withNewClientConfig().withNewService().withName("ratekeeper-webhook").withNamespace(NAMESPACE)
        .withPath("/mutate").withPort(443).endService().endClientConfig()
        .withNewObjectSelector().addToMatchLabels("ratekeeper.dev/inject", "true").endObjectSelector()
        .addNewRule().withApiGroups("").withApiVersions("v1").withResources("pods").withOperations("CREATE")
        .endRule()
        .endWebhook()
        .build();
  }

  static String caBundle(KubernetesClient client) {
    MutatingWebhookConfiguration config = client.admissionRegistration().v1().mutatingWebhookConfigurations()
        .withName(CONFIG_NAME).get();
    return config.getWebhooks().get(0).getClientConfig().getCaBundle();
  }

  static List<X509Certificate> caBundleCertificates(KubernetesClient client) throws IOException {
    return Pem.certificates(new String(Base64.getDecoder().decode(caBundle(client)), StandardCharsets.UTF_8));
  }

  static Secret secret(KubernetesClient client) {
    return client.secrets().inNamespace(NAMESPACE).withName(SECRET).get();
  }

  /** The CA in the Secret's ca.crt: what a client of the webhook should trust. */
  static X509Certificate secretCa(KubernetesClient client) throws IOException {
    return Pem.certificate(decode(secret(client), TlsSecret.CA_CRT));
  }

  static X509Certificate secretCertificate(KubernetesClient client) throws IOException {
    return Pem.certificate(decode(secret(client), TlsSecret.TLS_CRT));
  }

  static String decode(Secret secret, String key) {
    return new String(Base64.getDecoder().decode(secret.getData().get(key)), StandardCharsets.UTF_8);
  }

  /** An HTTPS client that trusts exactly these CAs, nothing from the JDK's trust store. */
  static HttpClient httpsTrusting(X509Certificate... cas) throws GeneralSecurityException, IOException {
    KeyStore trust = KeyStore.getInstance("PKCS12");
    trust.load(null, null);
    for (int i = 0; i < cas.length; i++) {
      trust.setCertificateEntry("ca-" + i, cas[i]);
    }
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(null, tmf.getTrustManagers(), null);
    return HttpClient.newBuilder().sslContext(context).version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
  }

  static HttpResponse<String> post(HttpClient client, int port, String body) throws IOException, InterruptedException {
    return client.send(HttpRequest.newBuilder(URI.create("https://localhost:" + port + WebhookServer.MUTATE_PATH))
        .timeout(Duration.ofSeconds(10)).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }

  static HttpResponse<String> get(HttpClient client, int port, String path) throws IOException, InterruptedException {
    return client.send(HttpRequest.newBuilder(URI.create("https://localhost:" + port + path))
        .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
  }

  /** The certificate the server presents on a new connection. */
  static X509Certificate presented(HttpClient client, int port) throws IOException, InterruptedException {
    HttpResponse<String> response = get(client, port, WebhookServer.HEALTH_PATH);
    return (X509Certificate) response.sslSession().orElseThrow().getPeerCertificates()[0];
  }

  /** A clock the test moves by hand. */
  static final class MutableClock extends Clock {
    private volatile Instant now;

    MutableClock(Instant start) {
      this.now = start;
    }

    void advance(Duration d) {
      now = now.plus(d);
    }

    @Override
    public Instant instant() {
      return now;
    }

    @Override
    public ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
      return this;
    }
  }
}
