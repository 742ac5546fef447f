package dev.ratekeeper.operator.webhook;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ratekeeper.operator.webhook.tls.CertificateIssuer;
import dev.ratekeeper.operator.webhook.tls.KeyAndCertificate;
import dev.ratekeeper.operator.webhook.tls.Pem;
import dev.ratekeeper.operator.webhook.tls.ReloadableKeyManager;
import dev.ratekeeper.operator.webhook.tls.TlsMaterial;
import dev.ratekeeper.operator.webhook.tls.TlsSecret;
import io.fabric8.kubernetes.api.model.Secret;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The CA and serving certificates the webhook issues, their PEM form, and when they are due for renewal. */
class WebhookTlsTest {
  private static final Instant NOW = Instant.parse("2026-03-01T00:00:00Z");
  private static final List<String> NAMES = List.of("ratekeeper-webhook.rk.svc", "ratekeeper-webhook.rk.svc.cluster.local");
  private static final Duration RENEW_BEFORE = Duration.ofDays(30);

  private final CertificateIssuer issuer = new CertificateIssuer();
  private final KeyAndCertificate ca = issuer.newCa("test-ca", NOW, Duration.ofDays(3650));
  private final KeyAndCertificate serving = issuer.serving(ca, NAMES, NOW, Duration.ofDays(365));

  @Test
  void theServingCertificateChainsToTheCaForServerAuthOnTheServiceNames() throws Exception {
    assertThat(ca.certificate().getBasicConstraints()).isZero();
    assertThat(serving.certificate().getBasicConstraints()).isEqualTo(-1);
    assertThat(serving.certificate().getExtendedKeyUsage()).containsExactly("1.3.6.1.5.5.7.3.1");
    assertThat(serving.certificate().getSubjectAlternativeNames().stream().map(san -> (Object) san.get(1)).toList())
        .containsExactlyElementsOf(NAMES);
    assertThat(serving.certificate().getNotAfter().toInstant()).isEqualTo(NOW.plus(Duration.ofDays(365)));
    assertThat(serving.certificate().getNotBefore().toInstant()).isBefore(NOW);

    PKIXParameters params = new PKIXParameters(Set.of(new TrustAnchor(ca.certificate(), null)));
    params.setRevocationEnabled(false);
    params.setDate(Date.from(NOW));
    CertPathValidator.getInstance("PKIX").validate(
        CertificateFactory.getInstance("X.509").generateCertPath(List.of(serving.certificate())), params);
  }

  @Test
  void aServingCertificateNeverOutlivesItsCa() {
    KeyAndCertificate shortCa = issuer.newCa("short", NOW, Duration.ofDays(10));
    KeyAndCertificate cert = issuer.serving(shortCa, NAMES, NOW, Duration.ofDays(365));
    assertThat(cert.certificate().getNotAfter()).isEqualTo(shortCa.certificate().getNotAfter());
  }

  @Test
  void pemRoundTrips() throws Exception {
    String pem = Pem.encode(serving.certificate(), serving.key());
    assertThat(pem).contains("-----BEGIN CERTIFICATE-----").contains("-----BEGIN PRIVATE KEY-----");
    assertThat(Pem.certificate(pem)).isEqualTo(serving.certificate());
    assertThat(Pem.privateKey(pem).getEncoded()).isEqualTo(serving.key().getEncoded());
    assertThat(Pem.certificates(Pem.encode(ca.certificate(), serving.certificate()))).hasSize(2);
    assertThatThrownBy(() -> Pem.privateKey(Pem.encode(ca.certificate()))).hasMessageContaining("no private key");
  }

  @Test
  void theSecretHoldsTheStandardKeysAndReadsBack() throws Exception {
    TlsMaterial material = new TlsMaterial(ca.certificate(), ca.key(), null, serving);
    Secret secret = TlsSecret.write(null, "rk", "hook-tls", material);
    assertThat(secret.getType()).isEqualTo("kubernetes.io/tls");
    assertThat(secret.getData()).containsOnlyKeys("tls.crt", "tls.key", "ca.crt", "ca.key");
    TlsMaterial read = TlsSecret.read(secret);
    assertThat(read.ca()).isEqualTo(ca.certificate());
    assertThat(read.serving().certificate()).isEqualTo(serving.certificate());
    assertThat(read.caKey().getEncoded()).isEqualTo(ca.key().getEncoded());
    assertThat(read.previousCa()).isNull();
  }

  @Test
  void renewalIsDueNearExpiryOrWhenTheCertificateDoesNotFit() {
    TlsMaterial material = new TlsMaterial(ca.certificate(), ca.key(), null, serving);
    assertThat(material.renewalReason(NAMES, NOW, RENEW_BEFORE)).isNull();
    assertThat(material.renewalReason(NAMES, NOW.plus(Duration.ofDays(334)), RENEW_BEFORE)).isNull();
    assertThat(material.renewalReason(NAMES, NOW.plus(Duration.ofDays(336)), RENEW_BEFORE))
        .startsWith("the serving certificate expires at");
    assertThat(material.renewalReason(List.of(NAMES.get(0), "localhost"), NOW, RENEW_BEFORE))
        .isEqualTo("the serving certificate does not name localhost");

    KeyAndCertificate otherCa = issuer.newCa("other", NOW, Duration.ofDays(3650));
    assertThat(new TlsMaterial(otherCa.certificate(), otherCa.key(), null, serving).renewalReason(NAMES, NOW,
        RENEW_BEFORE)).isEqualTo("the serving certificate is not signed by the CA");

    KeyAndCertificate dyingCa = issuer.newCa("dying", NOW, Duration.ofDays(20));
    KeyAndCertificate fromDying = issuer.serving(dyingCa, NAMES, NOW, Duration.ofDays(365));
    TlsMaterial dying = new TlsMaterial(dyingCa.certificate(), dyingCa.key(), null, fromDying);
    assertThat(dying.renewalReason(NAMES, NOW, RENEW_BEFORE)).startsWith("the serving certificate expires at");
    assertThat(dying.caCanIssue(NOW, RENEW_BEFORE)).isFalse();
    assertThat(material.caCanIssue(NOW, RENEW_BEFORE)).isTrue();
    assertThat(new TlsMaterial(ca.certificate(), null, null, serving).caCanIssue(NOW, RENEW_BEFORE)).isFalse();
  }

  @Test
  void theCaBundleKeepsTheReplacedCaUntilItExpires() throws Exception {
    KeyAndCertificate old = issuer.newCa("old", NOW, Duration.ofDays(30));
    TlsMaterial material = new TlsMaterial(ca.certificate(), ca.key(), old.certificate(), serving);
    assertThat(Pem.certificates(material.caBundle(NOW))).containsExactly(ca.certificate(), old.certificate());
    assertThat(Pem.certificates(material.caBundle(NOW.plus(Duration.ofDays(31))))).containsExactly(ca.certificate());
  }

  @Test
  void theKeyManagerServesTheLatestCertificateAndStillResolvesThePreviousAlias() {
    ReloadableKeyManager km = new ReloadableKeyManager(serving);
    String first = km.chooseServerAlias("EC", null, null);
    assertThat(km.chooseServerAlias("RSA", null, null)).as("an EC key cannot serve RSA suites").isNull();
    KeyAndCertificate next = issuer.serving(ca, NAMES, NOW, Duration.ofDays(365));
    km.reload(next);
    String second = km.chooseServerAlias("EC", null, null);
    assertThat(second).isNotEqualTo(first);
    assertThat(km.certificate()).isEqualTo(next.certificate());
    assertThat(km.getCertificateChain(second)).containsExactly(next.certificate());
    assertThat(km.getCertificateChain(first)).as("a handshake that chose before the reload")
        .containsExactly(serving.certificate());
    assertThat(km.getPrivateKey(first)).isEqualTo(serving.key());
    km.reload(issuer.serving(ca, NAMES, NOW, Duration.ofDays(365)));
    assertThat(km.getCertificateChain(first)).as("two generations back is forgotten").isNull();
  }
}
