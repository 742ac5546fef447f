package dev.ratekeeper.operator.secrets;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.informers.cache.BasicItemStore;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import io.fabric8.kubernetes.client.informers.cache.ItemStore;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The informer cache of the watched namespaces' Secrets, holding what the operator needs to know
 * which Secrets exist and which keys they have — never their values: each Secret is kept as its
 * name, namespace, resourceVersion, labels and key names, every value replaced by "". The values of
 * a Secret a policy references are read with a GET when the policy is reconciled.
 */
public final class SecretKeysStore implements ItemStore<Secret> {
  private final BasicItemStore<Secret> store = new BasicItemStore<>(Cache::metaNamespaceKeyFunc);

  /** The Secret as cached: metadata and key names only. */
  public static Secret keysOnly(Secret secret) {
    var meta = secret.getMetadata();
    return new SecretBuilder()
        .withMetadata(new ObjectMetaBuilder().withName(meta.getName()).withNamespace(meta.getNamespace())
            .withUid(meta.getUid()).withResourceVersion(meta.getResourceVersion()).withLabels(meta.getLabels())
            .withDeletionTimestamp(meta.getDeletionTimestamp()).build())
        .withType(secret.getType())
        .withData(blank(secret.getData(), secret.getStringData()))
        .build();
  }

  private static Map<String, String> blank(Map<String, String> data, Map<String, String> stringData) {
    Map<String, String> keys = new LinkedHashMap<>();
    Stream.of(data, stringData).filter(m -> m != null).forEach(m -> m.keySet().forEach(k -> keys.put(k, "")));
    return keys;
  }

  @Override
  public String getKey(Secret secret) {
    return store.getKey(secret);
  }

  @Override
  public Secret put(String key, Secret secret) {
    return store.put(key, keysOnly(secret));
  }

  @Override
  public Secret remove(String key) {
    return store.remove(key);
  }

  @Override
  public Stream<String> keySet() {
    return store.keySet();
  }

  @Override
  public Stream<Secret> values() {
    return store.values();
  }

  @Override
  public int size() {
    return store.size();
  }

  @Override
  public Secret get(String key) {
    return store.get(key);
  }
}
