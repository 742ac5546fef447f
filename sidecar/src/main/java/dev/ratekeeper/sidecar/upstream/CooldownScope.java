package dev.ratekeeper.sidecar.upstream;

import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.sidecar.identity.ApiKeys;
import io.vertx.core.MultiMap;
import java.util.Locale;

/**
 * What a provider's throttle applies to, so one client cannot put everyone into a cooldown: the
 * upstream, the credential the call was made with — {@code sidecar} when the sidecar adds the
 * provider key itself (every sidecar of the policy shares it, so they share the cooldown), else a
 * hash of the client's own key ({@code x-api-key}, {@code authorization} or Azure's {@code api-key}), {@code none} without
 * one — and the model, when the provider says the limit is the model's.
 *
 * <p>When the provider says so: a 429 whose body names the model the call asked for (OpenAI:
 * "Rate limit reached for gpt-4o-mini in organization …") cools down only that model for that
 * credential; other throttles (Anthropic's, 529 overloaded) cool down the credential. The
 * pre-emptive throttle from rate-limit headers is the model's on OpenAI, whose {@code x-ratelimit-*}
 * headers describe the model's limits, and the credential's on Anthropic.
 *
 * <p>{@link #key()} names the scope in Redis keys and announcements: {@code <upstream>~<credential>}
 * or {@code <upstream>~<credential>~<model>}; no spaces, at most {@value #MAX_MODEL} model characters.
 */
public record CooldownScope(String upstream, String credential, String model) {
  public static final String SIDECAR = "sidecar";
  public static final String NONE = "none";
  static final int MAX_MODEL = 100;

  /** The credential scope of a call through {@code upstream}. */
  public static CooldownScope of(String upstream, UpstreamFormat format, boolean sidecarHoldsKey, MultiMap headers) {
    if (sidecarHoldsKey) {
      return new CooldownScope(upstream, SIDECAR, null);
    }
    String key = ProviderCredentials.clientKey(format, headers);
    return new CooldownScope(upstream, key == null ? NONE : "k" + ApiKeys.hash(key.strip())
        .substring(0, 16), null);
  }

  /** The same credential, narrowed to {@code model} (null when the name is not one a key may hold). */
  public CooldownScope model(String name) {
    if (name == null || name.isEmpty() || name.length() > MAX_MODEL) {
      return null;
    }
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      if (!(Character.isLetterOrDigit(c) && c < 0x80 || c == '-' || c == '.' || c == '_' || c == ':' || c == '/')) {
        return null;
      }
    }
    return new CooldownScope(upstream, credential, name.toLowerCase(Locale.ROOT));
  }

  /** Whether a provider's throttle answer names {@code model} as the limited one. */
  public static boolean namesModel(String body, String model) {
    return model != null && model.length() >= 3 && body != null && body.contains(model);
  }

  public String key() {
    return model == null ? upstream + "~" + credential : upstream + "~" + credential + "~" + model;
  }
}
