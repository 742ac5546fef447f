package dev.ratekeeper.operator.webhook.tls;

import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;

/**
 * What the webhook's TLS Secret holds: the CA certificate (and its key when the webhook issued it
 * itself), the CA it replaced (kept in the caBundle until it expires, so replicas still serving a
 * certificate of the old CA stay trusted during a CA rollover) and the serving certificate and key.
 *
 * @param ca the current CA's certificate
 * @param caKey the CA's private key, or null when someone else issued the certificates
 * @param previousCa the replaced CA, or null
 * @param serving the serving certificate and its key
 */
public record TlsMaterial(X509Certificate ca, java.security.PrivateKey caKey, X509Certificate previousCa,
    KeyAndCertificate serving) {

  public TlsMaterial {
    Objects.requireNonNull(ca, "ca");
    Objects.requireNonNull(serving, "serving");
  }

  /** The CA certificates the API server must trust: the current CA, and the previous one while it is valid. */
  public List<X509Certificate> trustedCas(Instant now) {
    List<X509Certificate> cas = new ArrayList<>();
    cas.add(ca);
    if (previousCa != null && previousCa.getNotAfter().toInstant().isAfter(now)) {
      cas.add(previousCa);
    }
    return cas;
  }

  /** The caBundle PEM text. */
  public String caBundle(Instant now) {
    return Pem.encode(trustedCas(now).toArray());
  }

  /**
   * Null when this material can keep being served at {@code now}, else the reason to renew: the
   * serving certificate is not signed by the CA, does not name every DNS name, or it or the CA
   * expires within {@code renewBefore}.
   */
  public String renewalReason(List<String> dnsNames, Instant now, Duration renewBefore) {
    X509Certificate cert = serving.certificate();
    if (!chainsTo(serving.chain(), ca)) {
      return "the serving certificate is not signed by the CA";
    }
    List<String> named = dnsNames(cert);
    List<String> missing = dnsNames.stream().filter(n -> !named.contains(n)).toList();
    if (!missing.isEmpty()) {
      return "the serving certificate does not name " + String.join(", ", missing);
    }
    Instant horizon = now.plus(renewBefore);
    if (cert.getNotBefore().toInstant().isAfter(now)) {
      return "the serving certificate is not valid yet";
    }
    if (cert.getNotAfter().toInstant().isBefore(horizon)) {
      return "the serving certificate expires at " + cert.getNotAfter().toInstant();
    }
    if (ca.getNotAfter().toInstant().isBefore(horizon)) {
      return "the CA expires at " + ca.getNotAfter().toInstant();
    }
    return null;
  }

  /** Whether the serving certificate can be served at all at {@code now}: in its validity and signed by the CA. */
  public boolean servable(Instant now) {
    X509Certificate cert = serving.certificate();
    return chainsTo(serving.chain(), ca) && !cert.getNotBefore().toInstant().isAfter(now)
        && cert.getNotAfter().toInstant().isAfter(now);
  }

  /** Whether the CA can sign a new serving certificate that lives past {@code renewBefore}. */
  public boolean caCanIssue(Instant now, Duration renewBefore) {
    return caKey != null && ca.getNotAfter().toInstant().isAfter(now.plus(renewBefore));
  }

  /** Whether the chain (certificate first, then intermediates) leads to a certificate {@code ca} signed. */
  static boolean chainsTo(List<X509Certificate> chain, X509Certificate ca) {
    for (int i = 0; i < chain.size(); i++) {
      X509Certificate cert = chain.get(i);
      if (cert.equals(ca) && i > 0) {
        return true;
      }
      if (signs(ca, cert)) {
        return true;
      }
      if (i + 1 == chain.size() || !signs(chain.get(i + 1), cert)) {
        return false;
      }
    }
    return false;
  }

  private static boolean signs(X509Certificate issuer, X509Certificate cert) {
    try {
      cert.verify(issuer.getPublicKey());
      return true;
    } catch (Exception e) {
      return false;
    }
  }

  static List<String> dnsNames(X509Certificate cert) {
    try {
      Collection<List<?>> sans = cert.getSubjectAlternativeNames();
      if (sans == null) {
        return List.of();
      }
      return sans.stream().filter(san -> Integer.valueOf(2).equals(san.get(0))).map(san -> (String) san.get(1))
          .toList();
    } catch (CertificateParsingException e) {
      return List.of();
    }
  }
}
