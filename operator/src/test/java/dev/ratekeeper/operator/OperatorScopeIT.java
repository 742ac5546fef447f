package dev.ratekeeper.operator;

import static dev.ratekeeper.operator.testing.OperatorHarness.condition;
import static dev.ratekeeper.operator.testing.OperatorHarness.eventually;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.operator.secrets.ApiKeyHashes;
import dev.ratekeeper.operator.testing.OperatorHarness;
import dev.ratekeeper.policy.api.Condition;
import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.policy.keys.RedisKeys;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/**
 * Which policies the operator takes on: the configured namespaces only, and only as the elected
 * leader; and, with a Secret selector, which Secrets it sees.
 */
class OperatorScopeIT {
  private static final String SPEC = "tiers:\n- name: free\n  requests: {perMinute: 10}\n";

  @Test
  void watchesOnlyTheConfiguredNamespaces() {
    try (OperatorHarness harness = new OperatorHarness(api -> { }, s -> s.withNamespaces(Set.of("team-a")))) {
      harness.create("team-b", "agents", SPEC);
      harness.create("team-a", "agents", SPEC);

      eventually().untilAsserted(() -> assertThat(condition(harness.get("team-a", "agents"), "Accepted"))
          .hasValueSatisfying(c -> assertThat(c.status).isEqualTo("True")));
      // team-a was created after team-b and is done: team-b would have been reconciled by now
      double reconciles = harness.count("ratekeeper.operator.reconciles");
      eventually().until(() -> harness.count("ratekeeper.operator.reconciles") >= reconciles + 3);
      assertThat(harness.get("team-b", "agents").getStatus()).isNull();
      assertThat(harness.get("team-b", "agents").getMetadata().getFinalizers()).isEmpty();
      try (Jedis jedis = harness.jedis()) {
        assertThat(jedis.exists(new RedisKeys(new PolicyId("team-b", "agents")).currentRevision())).isFalse();
      }
    }
  }

  @Test
  void withLeaderElectionTheLeaseHolderReconciles() {
    try (OperatorHarness harness = new OperatorHarness(
        api -> api.allowLeases(),
        s -> s.withLeaderElection(
            new OperatorSettings.LeaderElection("ratekeeper-operator", "ratekeeper-system", "operator-0")))) {
      harness.create("team-a", "agents", SPEC);

      eventually().untilAsserted(() -> assertThat(condition(harness.get("team-a", "agents"), "Accepted"))
          .hasValueSatisfying(c -> assertThat(c.status).isEqualTo("True")));
      var lease = harness.client().leases().inNamespace("ratekeeper-system").withName("ratekeeper-operator").get();
      assertThat(lease.getSpec().getHolderIdentity()).isEqualTo("operator-0");
    }
  }

  @Test
  void withASecretSelectorOnlyLabelledSecretsAreSeen() {
    String ns = "team-a";
    String spec = SPEC + "identity:\n  apiKeySecretRef: {name: agent-keys}\n";
    RedisKeys keys = new RedisKeys(new PolicyId(ns, "agents"));
    try (OperatorHarness harness = new OperatorHarness(api -> { },
        s -> s.withSecretSelector("ratekeeper.dev/secret=true"))) {
      harness.client().resource(secret(ns, "agent-keys", Map.of("alice", "sk-alice"), Map.of())).create();
      harness.client().resource(secret(ns, "other-keys", Map.of("bob", "sk-bob"), Map.of("app", "web"))).create();
      harness.create(ns, "agents", spec);

      // the Secret exists, but outside the selector the operator never sees it
      eventually().untilAsserted(() -> {
        Condition accepted = condition(harness.get(ns, "agents"), "Accepted").orElseThrow();
        assertThat(accepted.status).isEqualTo("True");
        assertThat(accepted.reason).isEqualTo("SecretMissing");
        assertThat(accepted.message).contains("Secret agent-keys (spec.identity.apiKeySecretRef) not found");
      });
      double reconciles = harness.count("ratekeeper.operator.reconciles");
      eventually().until(() -> harness.count("ratekeeper.operator.reconciles") >= reconciles + 3);
      try (Jedis jedis = harness.jedis()) {
        assertThat(jedis.exists(keys.apiKeys())).as("no keys from an unlabelled Secret").isFalse();
      }
      assertThat(condition(harness.get(ns, "agents"), "Accepted").orElseThrow().reason).isEqualTo("SecretMissing");

      // labelled, it is watched: the keys arrive (as hashes) and the policy is complete
      harness.client().secrets().inNamespace(ns).withName("agent-keys")
          .edit(s -> new SecretBuilder(s).editMetadata().addToLabels("ratekeeper.dev/secret", "true").endMetadata()
              .build());
      eventually().untilAsserted(() -> {
        try (Jedis jedis = harness.jedis()) {
          assertThat(jedis.hgetAll(keys.apiKeys())).isEqualTo(Map.of(ApiKeyHashes.sha256Hex("sk-alice"), "alice"));
        }
        assertThat(condition(harness.get(ns, "agents"), "Accepted").orElseThrow().reason).isEqualTo("Compiled");
      });
    }
  }

  private static Secret secret(String namespace, String name, Map<String, String> plain, Map<String, String> labels) {
    Map<String, String> data = new java.util.TreeMap<>();
    plain.forEach((k, v) -> data.put(k, Base64.getEncoder().encodeToString(v.getBytes(StandardCharsets.UTF_8))));
    return new SecretBuilder().withNewMetadata().withName(name).withNamespace(namespace).withLabels(labels)
        .endMetadata().withData(data).build();
  }
}
