package dev.ratekeeper.sidecar.upstream;

import dev.ratekeeper.policy.api.UpstreamFormat;
import io.vertx.core.MultiMap;
import java.util.Set;

/**
 * The headers a provider key travels in: Anthropic {@code x-api-key}, OpenAI
 * {@code authorization: Bearer}, Azure OpenAI {@code api-key} (or an Entra ID bearer token in
 * {@code authorization}). Keys are never logged: only {@link CooldownScope} sees them, as a hash.
 */
public final class ProviderCredentials {
  /** Every header that may carry a provider credential, lower-case. */
  public static final Set<String> HEADERS = Set.of("authorization", "x-api-key", "api-key");

  private ProviderCredentials() {}

  /** Whether {@code lowerCaseName} may carry a provider credential (replaced when the sidecar holds the key). */
  public static boolean isCredential(String lowerCaseName) {
    return HEADERS.contains(lowerCaseName);
  }

  /** Sets the sidecar-held {@code key} in {@code format}'s header. */
  public static void set(MultiMap headers, UpstreamFormat format, String key) {
    switch (format) {
      case ANTHROPIC -> headers.set("x-api-key", key);
      case OPENAI -> headers.set("authorization", "Bearer " + key);
      case AZURE_OPENAI -> headers.set("api-key", key);
    }
  }

  /** The client's own credential for {@code format}: its usual header first, then the others; null without one. */
  static String clientKey(UpstreamFormat format, MultiMap headers) {
    String[] order = switch (format) {
      case ANTHROPIC -> new String[] {"x-api-key", "authorization", "api-key"};
      case OPENAI -> new String[] {"authorization", "x-api-key", "api-key"};
      case AZURE_OPENAI -> new String[] {"api-key", "authorization", "x-api-key"};
    };
    for (String name : order) {
      String key = headers.get(name);
      if (key != null && !key.isBlank()) {
        return key;
      }
    }
    return null;
  }
}
