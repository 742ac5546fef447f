package dev.ratekeeper.operator.webhook.tls;

import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import javax.security.auth.x500.X500Principal;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * Issues the webhook's own CA and its serving certificates with BouncyCastle's certificate
 * builder (keys and signatures come from the JDK's providers: ECDSA P-256 with SHA-256).
 * Certificates start an hour before {@code now}, for clocks that disagree a little.
 */
public final class CertificateIssuer {
  private static final Duration BACKDATE = Duration.ofHours(1);
  private static final String SIGNATURE = "SHA256withECDSA";

  private final SecureRandom random = new SecureRandom();

  /** A self-signed CA that may sign serving certificates only (path length 0). */
  public KeyAndCertificate newCa(String commonName, Instant now, Duration validity) {
    try {
      KeyPair pair = keyPair();
      X500Principal subject = new X500Principal("CN=" + commonName);
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(subject, serial(), Date.from(now.minus(BACKDATE)),
          Date.from(now.plus(validity)), subject, pair.getPublic())
          .addExtension(Extension.basicConstraints, true, new BasicConstraints(0))
          .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
          .addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(pair.getPublic()));
      return new KeyAndCertificate(sign(b, pair), pair.getPrivate());
    } catch (GeneralSecurityException | OperatorCreationException | java.io.IOException e) {
      throw new IllegalStateException("cannot issue a CA certificate: " + e.getMessage(), e);
    }
  }

  /**
   * A serving certificate for {@code dnsNames} (the first is also the common name), signed by
   * {@code ca}, valid for {@code validity} but never past the CA.
   */
  public KeyAndCertificate serving(KeyAndCertificate ca, List<String> dnsNames, Instant now, Duration validity) {
    try {
      KeyPair pair = keyPair();
      Instant notAfter = now.plus(validity);
      if (notAfter.isAfter(ca.certificate().getNotAfter().toInstant())) {
        notAfter = ca.certificate().getNotAfter().toInstant();
      }
      GeneralName[] names = dnsNames.stream().map(n -> new GeneralName(GeneralName.dNSName, n))
          .toArray(GeneralName[]::new);
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(ca.certificate(), serial(),
          Date.from(now.minus(BACKDATE)), Date.from(notAfter), new X500Principal("CN=" + dnsNames.get(0)),
          pair.getPublic())
          .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
          .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature))
          .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth))
          .addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names))
          .addExtension(Extension.authorityKeyIdentifier, false, ext.createAuthorityKeyIdentifier(ca.certificate()))
          .addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(pair.getPublic()));
      ContentSigner signer = new JcaContentSignerBuilder(SIGNATURE).build(ca.key());
      return new KeyAndCertificate(new JcaX509CertificateConverter().getCertificate(b.build(signer)),
          pair.getPrivate());
    } catch (GeneralSecurityException | OperatorCreationException | java.io.IOException e) {
      throw new IllegalStateException("cannot issue a serving certificate: " + e.getMessage(), e);
    }
  }

  /**
   * A TLS client certificate with common name {@code commonName}, signed by {@code ca} (e.g. the
   * front-proxy certificate a Kubernetes API server presents to aggregated APIs).
   */
  public KeyAndCertificate client(KeyAndCertificate ca, String commonName, Instant now, Duration validity) {
    try {
      KeyPair pair = keyPair();
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(ca.certificate(), serial(),
          Date.from(now.minus(BACKDATE)), Date.from(now.plus(validity)), new X500Principal("CN=" + commonName),
          pair.getPublic())
          .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
          .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature))
          .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_clientAuth))
          .addExtension(Extension.authorityKeyIdentifier, false, ext.createAuthorityKeyIdentifier(ca.certificate()));
      ContentSigner signer = new JcaContentSignerBuilder(SIGNATURE).build(ca.key());
      return new KeyAndCertificate(new JcaX509CertificateConverter().getCertificate(b.build(signer)),
          pair.getPrivate());
    } catch (GeneralSecurityException | OperatorCreationException | java.io.IOException e) {
      throw new IllegalStateException("cannot issue a client certificate: " + e.getMessage(), e);
    }
  }

  private X509Certificate sign(X509v3CertificateBuilder b, KeyPair pair)
      throws OperatorCreationException, GeneralSecurityException {
    ContentSigner signer = new JcaContentSignerBuilder(SIGNATURE).build(pair.getPrivate());
    return new JcaX509CertificateConverter().getCertificate(b.build(signer));
  }

  private KeyPair keyPair() throws GeneralSecurityException {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"), random);
    return g.generateKeyPair();
  }

  private BigInteger serial() {
    return new BigInteger(127, random).add(BigInteger.ONE);
  }
}
