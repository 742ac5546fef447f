package dev.ratekeeper.operator.secrets;

import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import dev.ratekeeper.policy.api.Upstream;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledUpstream;
import io.fabric8.kubernetes.api.model.Secret;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/** Which Secrets a policy references, and what is wrong with them. Pure. */
public final class SecretReferences {
  private SecretReferences() {}

  /** The Secrets the enforced compiled policy references: API keys first, then upstream credentials. */
  public static List<SecretReference> of(CompiledPolicy policy) {
    List<SecretReference> refs = new ArrayList<>();
    if (policy.identity().apiKeySecretName() != null) {
      refs.add(new SecretReference(policy.identity().apiKeySecretName(), null, "spec.identity.apiKeySecretRef",
          "no end-user API key is recognised"));
    }
    List<CompiledUpstream> upstreams = policy.upstreams();
    for (int i = 0; i < upstreams.size(); i++) {
      CompiledUpstream upstream = upstreams.get(i);
      if (upstream.credentialsSecretName() != null) {
        refs.add(new SecretReference(upstream.credentialsSecretName(), upstream.credentialsSecretKey(),
            "spec.upstreams[" + i + "].credentialsSecretRef",
            "sidecars cannot add the provider key for upstream " + upstream.name()));
      }
    }
    return refs;
  }

  /**
   * Names of the Secrets {@code spec} references, however valid the rest of it is: the index the
   * Secret watch maps a changed Secret back to its policies with.
   */
  public static Set<String> namesIn(RateLimitPolicySpec spec) {
    Set<String> names = new LinkedHashSet<>();
    if (spec == null) {
      return names;
    }
    if (spec.identity != null && spec.identity.apiKeySecretRef != null && spec.identity.apiKeySecretRef.name != null) {
      names.add(spec.identity.apiKeySecretRef.name);
    }
    if (spec.upstreams != null) {
      for (Upstream upstream : spec.upstreams) {
        if (upstream != null && upstream.credentialsSecretRef != null && upstream.credentialsSecretRef.name != null) {
          names.add(upstream.credentialsSecretRef.name);
        }
      }
    }
    return names;
  }

  /** One sentence per missing Secret or key; empty when every reference resolves. */
  public static List<String> problems(List<SecretReference> refs, Function<String, Optional<Secret>> lookup) {
    List<String> problems = new ArrayList<>();
    for (SecretReference ref : refs) {
      Optional<Secret> secret = lookup.apply(ref.secretName());
      if (secret.isEmpty()) {
        problems.add("Secret " + ref.secretName() + " (" + ref.fieldPath() + ") not found: " + ref.consequence());
      } else if (ref.key() != null && !hasKey(secret.get(), ref.key())) {
        problems.add("Secret " + ref.secretName() + " has no key " + ref.key() + " (" + ref.fieldPath() + "): "
            + ref.consequence());
      }
    }
    return problems;
  }

  private static boolean hasKey(Secret secret, String key) {
    return contains(secret.getData(), key) || contains(secret.getStringData(), key);
  }

  private static boolean contains(Map<String, String> data, String key) {
    return data != null && data.containsKey(key);
  }
}
