package dev.ratekeeper.operator.webhook;

import static dev.ratekeeper.operator.webhook.WebhookFixtures.NAMESPACE;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.operator.webhook.WebhookFixtures.MutableClock;
import dev.ratekeeper.operator.webhook.tls.CertificateIssuer;
import dev.ratekeeper.operator.webhook.tls.KeyAndCertificate;
import dev.ratekeeper.operator.webhook.tls.Pem;
import dev.ratekeeper.operator.webhook.tls.TlsSecret;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.StringWriter;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import java.util.List;
import org.bouncycastle.asn1.ASN1BitString;
import org.bouncycastle.asn1.DERBitString;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.sec.ECPrivateKey;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.util.io.pem.PemWriter;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Certificate renewal with an injected clock, no sleeping; each test has its own mock API server. The clock starts in the past so that
 * the moment a renewal falls due is the real present: the HTTPS client (which checks validity
 * against the real time) then accepts both the old and the renewed certificate.
 */
@EnableKubernetesMockClient(crud = true)
class WebhookCertificateRotationIT {
  KubernetesClient client;
  KubernetesMockServer server;

  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  @BeforeEach
  void webhookConfiguration() {
    client.admissionRegistration().v1().mutatingWebhookConfigurations()
        .resource(WebhookFixtures.webhookConfiguration()).create();
  }


  @Test
  void aCertificateNearExpiryIsReplacedAndServedWithoutARestart() throws Exception {
    Instant realNow = Instant.now().truncatedTo(ChronoUnit.SECONDS);
    MutableClock clock = new MutableClock(realNow.minus(Duration.ofDays(61)));
    WebhookConfig config = WebhookFixtures.config(Duration.ofDays(3650), Duration.ofDays(90), Duration.ofDays(30));
    try (WebhookServer webhook = WebhookServer.start(client, config, registry, clock, false)) {
      X509Certificate first = webhook.servingCertificate();
      assertThat(renewals()).as("the first certificate counts as issued").isEqualTo(1.0);
      X509Certificate ca = WebhookFixtures.secretCa(client);
      String bundle = WebhookFixtures.caBundle(client);
      HttpClient https = WebhookFixtures.httpsTrusting(ca);
      assertThat(WebhookFixtures.presented(https, webhook.port())).isEqualTo(first);

      clock.advance(Duration.ofDays(59)); // 31 days left: nothing to do
      String version = WebhookFixtures.secret(client).getMetadata().getResourceVersion();
      assertThat(webhook.checkCertificate()).isTrue();
      assertThat(webhook.servingCertificate()).isEqualTo(first);
      assertThat(WebhookFixtures.secret(client).getMetadata().getResourceVersion()).isEqualTo(version);
      assertThat(renewals()).isEqualTo(1.0);

      clock.advance(Duration.ofDays(2)); // 29 days left: renew
      assertThat(webhook.checkCertificate()).isTrue();
      X509Certificate second = webhook.servingCertificate();
      assertThat(second).isNotEqualTo(first);
      assertThat(second.getNotAfter().toInstant()).isEqualTo(clock.instant().plus(Duration.ofDays(90)));
      assertThat(WebhookFixtures.secretCertificate(client)).isEqualTo(second);
      assertThat(WebhookFixtures.secretCa(client)).as("the CA stays").isEqualTo(ca);
      assertThat(WebhookFixtures.caBundle(client)).isEqualTo(bundle);
      second.verify(ca.getPublicKey());
      // a new connection (the old client's pooled one keeps the certificate it was opened with)
      assertThat(WebhookFixtures.presented(WebhookFixtures.httpsTrusting(ca), webhook.port()))
          .as("served without a restart").isEqualTo(second);
      assertThat(renewals()).isEqualTo(2.0);
      assertThat(registry.get("ratekeeper.webhook.certificate.expiry.timestamp").gauge().value())
          .isEqualTo(second.getNotAfter().toInstant().getEpochSecond());
    }
  }

  @Test
  void aCaNearExpiryIsReplacedAndTheCaBundleTrustsBothUntilTheOldOneExpires() throws Exception {
    Instant realNow = Instant.now().truncatedTo(ChronoUnit.SECONDS);
    MutableClock clock = new MutableClock(realNow.minus(Duration.ofDays(91)));
    WebhookConfig config = WebhookFixtures.config(Duration.ofDays(120), Duration.ofDays(100), Duration.ofDays(30));
    try (WebhookServer webhook = WebhookServer.start(client, config, registry, clock, false)) {
      X509Certificate oldCa = WebhookFixtures.secretCa(client);
      assertThat(WebhookFixtures.caBundleCertificates(client)).containsExactly(oldCa);

      clock.advance(Duration.ofDays(91)); // the CA has 29 days left
      assertThat(webhook.checkCertificate()).isTrue();
      X509Certificate newCa = WebhookFixtures.secretCa(client);
      assertThat(newCa).isNotEqualTo(oldCa);
      assertThat(WebhookFixtures.caBundleCertificates(client)).containsExactly(newCa, oldCa);
      assertThat(WebhookFixtures.decode(WebhookFixtures.secret(client), TlsSecret.CA_PREVIOUS_CRT)).isNotBlank();
      webhook.servingCertificate().verify(newCa.getPublicKey());
      HttpClient https = WebhookFixtures.httpsTrusting(newCa);
      assertThat(WebhookFixtures.presented(https, webhook.port())).isEqualTo(webhook.servingCertificate());

      clock.advance(Duration.ofDays(30)); // the old CA has expired
      assertThat(webhook.checkCertificate()).isTrue();
      assertThat(WebhookFixtures.caBundleCertificates(client)).containsExactly(newCa);
    }
  }

  @Test
  void aCaBundleResetByAnInstallerIsPutBack() throws Exception {
    try (WebhookServer webhook = WebhookServer.start(client, WebhookFixtures.config(), registry,
        new MutableClock(Instant.now()), false)) {
      String bundle = WebhookFixtures.caBundle(client);
      client.admissionRegistration().v1().mutatingWebhookConfigurations().withName(WebhookFixtures.CONFIG_NAME)
          .edit(c -> {
            c.getWebhooks().get(0).getClientConfig().setCaBundle(null);
            return c;
          });
      assertThat(webhook.checkCertificate()).isTrue();
      assertThat(WebhookFixtures.caBundle(client)).isEqualTo(bundle);
    }
  }

  @Test
  void withoutTheWebhookConfigurationTheServerStartsAndPublishesOnceItAppears() throws Exception {
    client.admissionRegistration().v1().mutatingWebhookConfigurations().withName(WebhookFixtures.CONFIG_NAME).delete();
    try (WebhookServer webhook = WebhookServer.start(client, WebhookFixtures.config(), registry,
        new MutableClock(Instant.now()), false)) {
      assertThat(webhook.checkCertificate()).isFalse();
      webhookConfiguration();
      assertThat(webhook.checkCertificate()).isTrue();
      assertThat(WebhookFixtures.caBundle(client)).isEqualTo(
          WebhookFixtures.secret(client).getData().get(TlsSecret.CA_CRT));
    }
  }

  @Test
  void anUnusableSecretIsReplaced() throws Exception {
    Secret garbage = new SecretBuilder().withNewMetadata().withName(WebhookFixtures.SECRET).withNamespace(NAMESPACE)
        .endMetadata().withType("Opaque").addToData(TlsSecret.TLS_CRT, "bm90IGEgY2VydA==").build();
    client.secrets().inNamespace(NAMESPACE).resource(garbage).create();
    try (WebhookServer webhook = WebhookServer.start(client, WebhookFixtures.config(), registry,
        new MutableClock(Instant.now()), false)) {
      assertThat(WebhookFixtures.secretCertificate(client)).isEqualTo(webhook.servingCertificate());
      assertThat(WebhookFixtures.secret(client).getType()).as("the type of an existing Secret is kept").isEqualTo("Opaque");
      assertThat(renewals()).isEqualTo(1.0);
    }
  }

  @Test
  void aValidSecretFromAnotherIssuerIsServedAsItIs() throws Exception {
    Instant now = Instant.now();
    CertificateIssuer issuer = new CertificateIssuer();
    KeyAndCertificate ca = issuer.newCa("cert-manager-ca", now, Duration.ofDays(3650));
    KeyAndCertificate leaf = issuer.serving(ca, WebhookFixtures.config().dnsNames(), now, Duration.ofDays(90));
    createCertManagerSecret(ca, leaf);
    String version = WebhookFixtures.secret(client).getMetadata().getResourceVersion();
    try (WebhookServer webhook = WebhookServer.start(client, WebhookFixtures.config(), registry,
        new MutableClock(now), false)) {
      assertThat(webhook.servingCertificate()).isEqualTo(leaf.certificate());
      assertThat(WebhookFixtures.secret(client).getMetadata().getResourceVersion()).isEqualTo(version);
      assertThat(WebhookFixtures.caBundleCertificates(client)).containsExactly(ca.certificate());
      assertThat(renewals()).isZero();
      HttpResponse<String> health = WebhookFixtures.get(WebhookFixtures.httpsTrusting(ca.certificate()), webhook.port(),
          WebhookServer.HEALTH_PATH);
      assertThat(health.sslSession().orElseThrow().getPeerCertificates()).as("the whole chain").hasSize(2);
    }
  }

  @Test
  void aSecretDueForRenewalThatMayNotBeWrittenIsServedWhileValid() throws Exception {
    Instant now = Instant.now();
    CertificateIssuer issuer = new CertificateIssuer();
    KeyAndCertificate ca = issuer.newCa("cert-manager-ca", now, Duration.ofDays(3650));
    KeyAndCertificate leaf = issuer.serving(ca, WebhookFixtures.config().dnsNames(), now, Duration.ofDays(20));
    createCertManagerSecret(ca, leaf);
    server.expect().put().withPath("/api/v1/namespaces/" + NAMESPACE + "/secrets/" + WebhookFixtures.SECRET)
        .andReturn(403, "{\"kind\":\"Status\",\"code\":403,\"reason\":\"Forbidden\"}").always();
    try (WebhookServer webhook = WebhookServer.start(client, WebhookFixtures.config(), registry,
        new MutableClock(now), false)) {
      assertThat(webhook.servingCertificate()).isEqualTo(leaf.certificate());
      assertThat(WebhookFixtures.caBundleCertificates(client)).containsExactly(ca.certificate());
      assertThat(webhook.checkCertificate()).isTrue();
      assertThat(WebhookFixtures.secretCertificate(client)).isEqualTo(leaf.certificate());
    }
  }

  /** A Secret as cert-manager writes it: the chain in tls.crt, an SEC1 key, ca.crt, no ca.key. */
  private void createCertManagerSecret(KeyAndCertificate ca, KeyAndCertificate leaf) throws Exception {
    StringWriter sec1 = new StringWriter();
    try (PemWriter writer = new PemWriter(sec1)) {
      writer.writeObject(new PemObject("EC PRIVATE KEY", sec1(leaf)));
    }
    assertThat(sec1.toString()).startsWith("-----BEGIN EC PRIVATE KEY-----");
    Base64.Encoder b64 = Base64.getEncoder();
    Secret issued = new SecretBuilder().withNewMetadata().withName(WebhookFixtures.SECRET).withNamespace(NAMESPACE)
        .endMetadata().withType("kubernetes.io/tls")
        .addToData(TlsSecret.TLS_CRT, b64.encodeToString(Pem.encode(leaf.certificate(), ca.certificate())
            .getBytes(StandardCharsets.UTF_8)))
        .addToData(TlsSecret.TLS_KEY, b64.encodeToString(sec1.toString().getBytes(StandardCharsets.UTF_8)))
        .addToData(TlsSecret.CA_CRT, b64.encodeToString(Pem.encode(ca.certificate()).getBytes(StandardCharsets.UTF_8)))
        .build();
    client.secrets().inNamespace(NAMESPACE).resource(issued).create();
  }

  @Test
  void aNewDnsNameGetsANewCertificateFromTheSameCa() throws Exception {
    MutableClock clock = new MutableClock(Instant.now());
    try (WebhookServer first = WebhookServer.start(client, WebhookFixtures.config(), registry, clock, false)) {
      X509Certificate ca = WebhookFixtures.secretCa(client);
      WebhookConfig more = WebhookFixtures.config();
      more = new WebhookConfig(true, more.listen(), more.serviceName(), more.namespace(), more.secretName(),
          more.webhookConfigName(), List.of("localhost", "webhook.example.com"), more.caValidity(),
          more.certValidity(), more.renewBefore(), more.checkInterval(), more.injection());
      try (WebhookServer second = WebhookServer.start(client, more, new SimpleMeterRegistry(), clock, false)) {
        assertThat(second.servingCertificate()).isNotEqualTo(first.servingCertificate());
        assertThat(second.servingCertificate().getSubjectAlternativeNames().toString()).contains("webhook.example.com");
        assertThat(WebhookFixtures.secretCa(client)).isEqualTo(ca);
        assertThat(first.checkCertificate()).isTrue();
        assertThat(first.servingCertificate()).as("the other replica picks the new certificate up")
            .isEqualTo(second.servingCertificate());
      }
    }
  }

  /** The key as OpenSSL writes it by default: SEC1 with the curve and the public key. */
  private static byte[] sec1(KeyAndCertificate k) throws Exception {
    PrivateKeyInfo info = PrivateKeyInfo.getInstance(k.key().getEncoded());
    ECPrivateKey inner = ECPrivateKey.getInstance(info.parsePrivateKey());
    ASN1BitString publicKey = SubjectPublicKeyInfo.getInstance(k.certificate().getPublicKey().getEncoded())
        .getPublicKeyData();
    return new ECPrivateKey(256, inner.getKey(), new DERBitString(publicKey.getBytes()), info.getPrivateKeyAlgorithm().getParameters())
        .getEncoded();
  }

  private double renewals() {
    return registry.get("ratekeeper.webhook.certificate.renewals").counter().count();
  }
}
