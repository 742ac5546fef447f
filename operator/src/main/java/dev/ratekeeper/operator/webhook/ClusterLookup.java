package dev.ratekeeper.operator.webhook;

import dev.ratekeeper.operator.api.RateLimitPolicy;
import dev.ratekeeper.operator.webhook.inject.InjectionContext;
import dev.ratekeeper.operator.webhook.inject.InjectionContext.EnvSource;
import dev.ratekeeper.operator.webhook.inject.SidecarInjector;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * What the webhook reads from the cluster before it calls the pure injector. Implemented with a
 * Kubernetes client by {@link KubernetesClusterLookup}; tests may bring their own.
 */
public interface ClusterLookup {

  /** Every RateLimitPolicy in the namespace; throws when the API server cannot say. */
  List<RateLimitPolicy> policies(String namespace);

  /** The keys of a ConfigMap or Secret that an envFrom imports. */
  SourceKeys keys(String namespace, EnvSource source);

  /** Keys of an envFrom source: known, absent, or unreadable (then unknown). */
  sealed interface SourceKeys {
    record Known(Set<String> keys) implements SourceKeys {}

    record Absent() implements SourceKeys {}

    record Unreadable(String reason) implements SourceKeys {}
  }

  /** Looks up everything the injector needs for this pod. */
  default InjectionContext contextFor(String namespace, Pod pod) {
    List<RateLimitPolicy> policies = policies(namespace);
    Map<EnvSource, Set<String>> known = new HashMap<>();
    Set<EnvSource> absent = new HashSet<>();
    for (EnvSource source : SidecarInjector.envSources(pod)) {
      SourceKeys keys = keys(namespace, source);
      if (keys instanceof SourceKeys.Known k) {
        known.put(source, k.keys());
      } else if (keys instanceof SourceKeys.Absent) {
        absent.add(source);
      }
    }
    return new InjectionContext(namespace, InjectionContext.viewsOf(policies), known, absent);
  }

  /** The variable names a ConfigMap gives an envFrom: its data and binaryData keys. */
  static Set<String> keysOf(ConfigMap configMap) {
    Set<String> keys = new TreeSet<>();
    if (configMap.getData() != null) {
      keys.addAll(configMap.getData().keySet());
    }
    if (configMap.getBinaryData() != null) {
      keys.addAll(configMap.getBinaryData().keySet());
    }
    return keys;
  }

  /** The variable names a Secret gives an envFrom: its data and stringData keys (never its values). */
  static Set<String> keysOf(Secret secret) {
    Set<String> keys = new TreeSet<>();
    if (secret.getData() != null) {
      keys.addAll(secret.getData().keySet());
    }
    if (secret.getStringData() != null) {
      keys.addAll(secret.getStringData().keySet());
    }
    return keys;
  }
}
