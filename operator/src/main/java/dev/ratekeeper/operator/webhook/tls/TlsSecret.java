package dev.ratekeeper.operator.webhook.tls;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The webhook's Secret: type {@code kubernetes.io/tls} with {@code tls.crt}, {@code tls.key} and
 * {@code ca.crt}, plus {@code ca.key} (when the webhook issued the CA) and
 * {@code ca-previous.crt} (during a CA rollover).
 */
public final class TlsSecret {
  public static final String TLS_CRT = "tls.crt";
  public static final String TLS_KEY = "tls.key";
  public static final String CA_CRT = "ca.crt";
  public static final String CA_KEY = "ca.key";
  public static final String CA_PREVIOUS_CRT = "ca-previous.crt";

  private TlsSecret() {}

  /** The material in a Secret; throws when it lacks a certificate, key or CA, or they do not parse. */
  public static TlsMaterial read(Secret secret) throws IOException {
    Map<String, String> data = secret.getData() == null ? Map.of() : secret.getData();
    String crt = text(data, TLS_CRT);
    String key = text(data, TLS_KEY);
    String ca = text(data, CA_CRT);
    if (crt == null || key == null || ca == null) {
      throw new IOException("it lacks " + TLS_CRT + ", " + TLS_KEY + " or " + CA_CRT);
    }
    String caKey = text(data, CA_KEY);
    String previous = text(data, CA_PREVIOUS_CRT);
    List<X509Certificate> chain = Pem.certificates(crt);
    if (chain.isEmpty()) {
      throw new IOException("no certificate in " + TLS_CRT);
    }
    return new TlsMaterial(Pem.certificate(ca), caKey == null ? null : Pem.privateKey(caKey),
        previous == null ? null : Pem.certificate(previous),
        new KeyAndCertificate(chain.get(0), Pem.privateKey(key), chain));
  }

  /** {@code existing} (or a new Secret of that name) holding {@code material}; its type is set only on a new one. */
  public static Secret write(Secret existing, String namespace, String name, TlsMaterial material) {
    Map<String, String> data = new LinkedHashMap<>();
    data.put(TLS_CRT, base64(Pem.encode(material.serving().chain().toArray())));
    data.put(TLS_KEY, base64(Pem.encode(material.serving().key())));
    data.put(CA_CRT, base64(Pem.encode(material.ca())));
    if (material.caKey() != null) {
      data.put(CA_KEY, base64(Pem.encode(material.caKey())));
    }
    if (material.previousCa() != null) {
      data.put(CA_PREVIOUS_CRT, base64(Pem.encode(material.previousCa())));
    }
    if (existing != null) {
      return new SecretBuilder(existing).withData(data).withStringData(null).build();
    }
    return new SecretBuilder()
        .withNewMetadata().withNamespace(namespace).withName(name)
        .addToLabels("app.kubernetes.io/name", "ratekeeper")
        .addToLabels("app.kubernetes.io/component", "webhook")
        .addToLabels("app.kubernetes.io/managed-by", "ratekeeper-operator")
        .endMetadata()
        .withType("kubernetes.io/tls")
        .withData(data)
        .build();
  }

  private static String text(Map<String, String> data, String key) {
    String value = data.get(key);
    return value == null || value.isBlank() ? null
        : new String(Base64.getMimeDecoder().decode(value), StandardCharsets.UTF_8);
  }

  private static String base64(String text) {
    return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8));
  }
}
