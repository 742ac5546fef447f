package dev.ratekeeper.operator.secrets;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import org.junit.jupiter.api.Test;

class SecretKeysStoreTest {
  static Secret secret() {
    return new SecretBuilder().withNewMetadata().withName("agent-keys").withNamespace("team-a").withResourceVersion("7")
        .addToLabels("app", "agents").addToAnnotations("kubectl.kubernetes.io/last-applied-configuration", "{...}")
        .endMetadata().withType("Opaque").addToData("alice", "YWstYWxpY2UtMQ==").addToStringData("bob", "ak-bob")
        .build();
  }

  @Test
  void theCacheKeepsKeyNamesAndNoValue() {
    SecretKeysStore store = new SecretKeysStore();
    Secret original = secret();

    store.put(store.getKey(original), original);
    Secret cached = store.get("team-a/agent-keys");

    assertThat(cached.getData()).containsOnlyKeys("alice", "bob").allSatisfy((k, v) -> assertThat(v).isEmpty());
    assertThat(cached.getStringData()).isNullOrEmpty();
    assertThat(cached.getMetadata().getAnnotations()).as("last-applied holds the values too").isNullOrEmpty();
    assertThat(cached.getMetadata().getResourceVersion()).isEqualTo("7");
    assertThat(cached.getMetadata().getLabels()).containsEntry("app", "agents");
    assertThat(original.getData()).as("the informer's object is left alone").containsEntry("alice", "YWstYWxpY2UtMQ==");
  }

  @Test
  void keyChecksStillWorkOnTheCachedSecret() {
    Secret cached = SecretKeysStore.keysOnly(secret());
    var refs = java.util.List.of(new SecretReference("agent-keys", "alice", "spec.x", "no key"));

    assertThat(SecretReferences.problems(refs, name -> java.util.Optional.of(cached))).isEmpty();
  }
}
