package dev.ratekeeper.operator.webhook.tls;

import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Objects;

/**
 * A certificate, its private key, and the chain a server presents: the certificate first, then any
 * intermediates (a certificate from an external issuer such as cert-manager may have some).
 */
public record KeyAndCertificate(X509Certificate certificate, PrivateKey key, List<X509Certificate> chain) {
  public KeyAndCertificate {
    Objects.requireNonNull(certificate, "certificate");
    Objects.requireNonNull(key, "key");
    chain = chain == null || chain.isEmpty() ? List.of(certificate) : List.copyOf(chain);
    if (!chain.get(0).equals(certificate)) {
      throw new IllegalArgumentException("the chain must start with the certificate");
    }
  }

  public KeyAndCertificate(X509Certificate certificate, PrivateKey key) {
    this(certificate, key, List.of(certificate));
  }
}
