package dev.ratekeeper.operator.query;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.Headers;
import dev.ratekeeper.operator.webhook.tls.CertificateIssuer;
import dev.ratekeeper.operator.webhook.tls.KeyAndCertificate;
import dev.ratekeeper.operator.webhook.tls.Pem;
import java.security.cert.Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Which forwarded callers the query API believes (the TLS handshake itself is KubectlPluginIT's). */
class FrontProxyTrustTest {
  final CertificateIssuer issuer = new CertificateIssuer();
  final KeyAndCertificate ca = issuer.newCa("front-proxy-ca", Instant.now(), Duration.ofDays(1));
  final FrontProxyTrust trust = FrontProxyTrust.fromData(Map.of(
      "requestheader-client-ca-file", Pem.encode(ca.certificate()),
      "requestheader-allowed-names", "[\"front-proxy-client\"]",
      "requestheader-username-headers", "[\"X-Remote-User\"]",
      "requestheader-group-headers", "[\"X-Remote-Group\"]"));

  Certificate[] client(String commonName) {
    return new Certificate[] {issuer.client(ca, commonName, Instant.now(), Duration.ofDays(1)).certificate()};
  }

  static Headers headers(String... pairs) {
    Headers headers = new Headers();
    for (int i = 0; i < pairs.length; i += 2) {
      headers.add(pairs[i], pairs[i + 1]);
    }
    return headers;
  }

  @Test
  void theFrontProxyNamesTheUserAndGroups() {
    assertThat(trust.caller(client("front-proxy-client"), headers("X-Remote-User", "alice",
        "X-Remote-Group", "dev", "X-Remote-Group", "system:authenticated")))
        .contains(new Caller("alice", List.of("dev", "system:authenticated")));
  }

  @Test
  void noCertificateAnotherNameOrNoUserIsNobody() {
    assertThat(trust.caller(null, headers("X-Remote-User", "admin"))).isEmpty();
    assertThat(trust.caller(new Certificate[0], headers("X-Remote-User", "admin"))).isEmpty();
    assertThat(trust.caller(client("someone-else"), headers("X-Remote-User", "admin"))).isEmpty();
    assertThat(trust.caller(client("front-proxy-client"), headers("X-Remote-Group", "system:masters"))).isEmpty();
  }

  @Test
  void withoutAllowedNamesAnyCertificateOfTheCaIsTheFrontProxy() {
    FrontProxyTrust anyName = FrontProxyTrust.fromData(Map.of(
        "requestheader-client-ca-file", Pem.encode(ca.certificate()),
        "requestheader-allowed-names", "[]",
        "requestheader-username-headers", "[\"X-Remote-User\"]"));
    assertThat(anyName.caller(client("aggregator"), headers("X-Remote-User", "bob"))).contains(new Caller("bob",
        List.of()));
  }
}
