package dev.ratekeeper.operator.secrets;

import dev.ratekeeper.policy.keys.TenantAcl;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Map;

/**
 * A namespace's Redis login for its sidecars (per-tenant users): the Secret {@code <name>} in that
 * namespace, keys {@code user} ({@link TenantAcl#userName}) and {@code password} (32 random bytes,
 * base64url). Created once and then reused, so the password is stable across operator restarts and
 * replicas; delete the Secret to rotate it (the next reconcile writes a new one and the new password to
 * Redis; sidecars pick it up when their pods restart). The password is never logged.
 */
public final class TenantCredentials {
  public static final String USER_KEY = "user";
  public static final String PASSWORD_KEY = "password";
  static final String MANAGED_BY = "app.kubernetes.io/managed-by";
  private static final SecureRandom RANDOM = new SecureRandom();

  private TenantCredentials() {}

  /** The namespace's password, from its Secret, which is created first when missing. */
  public static String ensure(KubernetesClient client, String namespace, String secretName) {
    Secret existing = client.secrets().inNamespace(namespace).withName(secretName).get();
    String password = existing == null ? null : value(existing, PASSWORD_KEY);
    String user = existing == null ? null : value(existing, USER_KEY);
    if (password != null && TenantAcl.userName(namespace).equals(user)) {
      return password;
    }
    String fresh = newPassword();
    Secret secret = new SecretBuilder().withNewMetadata().withName(secretName).withNamespace(namespace)
        .withLabels(Map.of(MANAGED_BY, "ratekeeper")).endMetadata()
        .withType("Opaque")
        .withData(Map.of(USER_KEY, base64(TenantAcl.userName(namespace)), PASSWORD_KEY, base64(fresh)))
        .build();
    client.secrets().inNamespace(namespace).resource(secret).createOr(r -> r.update());
    return fresh;
  }

  private static String base64(String value) {
    return Base64.getEncoder().encodeToString(value.getBytes(StandardCharsets.UTF_8));
  }

  private static String value(Secret secret, String key) {
    if (secret.getData() != null && secret.getData().get(key) != null) {
      return new String(Base64.getDecoder().decode(secret.getData().get(key)), StandardCharsets.UTF_8);
    }
    return secret.getStringData() == null ? null : secret.getStringData().get(key);
  }

  static String newPassword() {
    byte[] bytes = new byte[32];
    RANDOM.nextBytes(bytes);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
  }
}
