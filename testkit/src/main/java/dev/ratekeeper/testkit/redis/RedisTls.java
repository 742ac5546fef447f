package dev.ratekeeper.testkit.redis;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import javax.security.auth.x500.X500Principal;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A private CA for a TLS-only Redis, written as PEM files: the CA certificate, a server certificate
 * for the name {@code localhost} only (so {@code rediss://127.0.0.1:...} fails a host-name check while
 * {@code rediss://localhost:...} passes), and a client certificate (for {@code tls-auth-clients yes}).
 * Keys are ECDSA P-256 in PKCS#8.
 */
public final class RedisTls {
  private final Path dir;
  private final X509Certificate ca;
  private final X509Certificate client;
  private final PrivateKey clientKey;

  private RedisTls(Path dir, X509Certificate ca, X509Certificate client, PrivateKey clientKey) {
    this.dir = dir;
    this.ca = ca;
    this.client = client;
    this.clientKey = clientKey;
  }

  /** A new CA and its certificates, in a new temporary directory. */
  public static RedisTls create() {
    try {
      Path dir = Files.createTempDirectory("redis-tls");
      KeyPair caKeys = keyPair();
      X500Principal caName = new X500Principal("CN=ratekeeper-test-ca");
      X509Certificate ca = sign(new JcaX509v3CertificateBuilder(caName, serial(), notBefore(), notAfter(), caName,
          caKeys.getPublic())
          .addExtension(Extension.basicConstraints, true, new BasicConstraints(1))
          .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign)), caKeys);
      KeyPair serverKeys = keyPair();
      X509Certificate server = sign(new JcaX509v3CertificateBuilder(caName, serial(), notBefore(), notAfter(),
          new X500Principal("CN=localhost"), serverKeys.getPublic())
          .addExtension(Extension.subjectAlternativeName, false, new GeneralNames(
              new GeneralName(GeneralName.dNSName, "localhost"))),
          caKeys);
      KeyPair clientKeys = keyPair();
      X509Certificate client = sign(new JcaX509v3CertificateBuilder(caName, serial(), notBefore(), notAfter(),
          new X500Principal("CN=ratekeeper-client"), clientKeys.getPublic()), caKeys);
      Files.writeString(dir.resolve("ca.crt"), pem("CERTIFICATE", ca.getEncoded()));
      Files.writeString(dir.resolve("server.crt"), pem("CERTIFICATE", server.getEncoded()));
      Files.writeString(dir.resolve("server.key"), pem("PRIVATE KEY", serverKeys.getPrivate().getEncoded()));
      Files.writeString(dir.resolve("client.crt"), pem("CERTIFICATE", client.getEncoded()));
      Files.writeString(dir.resolve("client.key"), pem("PRIVATE KEY", clientKeys.getPrivate().getEncoded()));
      return new RedisTls(dir, ca, client, clientKeys.getPrivate());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (GeneralSecurityException | org.bouncycastle.operator.OperatorCreationException e) {
      throw new IllegalStateException(e);
    }
  }

  public Path caCertificate() {
    return dir.resolve("ca.crt");
  }

  public Path serverCertificate() {
    return dir.resolve("server.crt");
  }

  public Path serverKey() {
    return dir.resolve("server.key");
  }

  public Path clientCertificate() {
    return dir.resolve("client.crt");
  }

  public Path clientKey() {
    return dir.resolve("client.key");
  }

  /** A TLS context trusting this CA only and presenting the client certificate. */
  public SSLContext clientContext() {
    try {
      KeyStore trust = KeyStore.getInstance("PKCS12");
      trust.load(null, null);
      trust.setCertificateEntry("ca", ca);
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(trust);
      KeyStore keys = KeyStore.getInstance("PKCS12");
      keys.load(null, null);
      keys.setKeyEntry("client", clientKey, new char[0], new X509Certificate[] {client, ca});
      KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(keys, new char[0]);
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(kmf.getKeyManagers(), tmf.getTrustManagers(), new SecureRandom());
      return context;
    } catch (GeneralSecurityException | IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private static KeyPair keyPair() throws GeneralSecurityException {
    KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
    generator.initialize(new ECGenParameterSpec("secp256r1"));
    return generator.generateKeyPair();
  }

  private static X509Certificate sign(X509v3CertificateBuilder builder, KeyPair issuer)
      throws GeneralSecurityException, org.bouncycastle.operator.OperatorCreationException {
    return new JcaX509CertificateConverter().getCertificate(
        builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(issuer.getPrivate())));
  }

  private static BigInteger serial() {
    return new BigInteger(64, new SecureRandom());
  }

  private static Date notBefore() {
    return Date.from(Instant.now().minus(Duration.ofHours(1)));
  }

  private static Date notAfter() {
    return Date.from(Instant.now().plus(Duration.ofDays(2)));
  }

  private static String pem(String type, byte[] der) {
    return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(der)
        + "\n-----END " + type + "-----\n";
  }
}
