package dev.ratekeeper.operator.webhook;

import dev.ratekeeper.operator.api.RateLimitPolicy;
import dev.ratekeeper.operator.webhook.inject.InjectionContext.EnvSource;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.util.List;

/** {@link ClusterLookup} through the Kubernetes API. */
public final class KubernetesClusterLookup implements ClusterLookup {
  private final KubernetesClient client;

  public KubernetesClusterLookup(KubernetesClient client) {
    this.client = client;
  }

  @Override
  public List<RateLimitPolicy> policies(String namespace) {
    return client.resources(RateLimitPolicy.class).inNamespace(namespace).list().getItems();
  }

  @Override
  public SourceKeys keys(String namespace, EnvSource source) {
    try {
      if (source.kind() == EnvSource.Kind.ConfigMap) {
        ConfigMap cm = client.configMaps().inNamespace(namespace).withName(source.name()).get();
        return cm == null ? new SourceKeys.Absent() : new SourceKeys.Known(ClusterLookup.keysOf(cm));
      }
      Secret secret = client.secrets().inNamespace(namespace).withName(source.name()).get();
      return secret == null ? new SourceKeys.Absent() : new SourceKeys.Known(ClusterLookup.keysOf(secret));
    } catch (KubernetesClientException e) {
      return new SourceKeys.Unreadable("HTTP " + e.getCode());
    }
  }
}
