package dev.ratekeeper.operator.reconcile;

import static dev.ratekeeper.operator.testing.OperatorHarness.condition;
import static dev.ratekeeper.operator.testing.OperatorHarness.eventually;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.operator.api.RateLimitPolicy;
import dev.ratekeeper.operator.secrets.ApiKeyHashes;
import dev.ratekeeper.operator.testing.OperatorHarness;
import dev.ratekeeper.policy.api.Condition;
import dev.ratekeeper.policy.api.SidecarCounts;
import dev.ratekeeper.policy.api.TopUser;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.PolicyCodec;
import dev.ratekeeper.policy.compile.PolicyCompiler;
import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.policy.keys.RedisKeys;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.JedisPubSub;
import redis.clients.jedis.params.SetParams;

/**
 * The operator end to end against Fabric8's mock API server and a real Redis: what users see in
 * status and Events, and what sidecars find in Redis. Each test uses its own namespace.
 */
class RateLimitPolicyReconcilerIT {
  private static final String SPEC_V1 = """
      tiers:
      - name: free
        requests: {perMinute: 10, burst: 5}
      - name: premium
        requests: {perMinute: 100}
      users:
      - {id: alice, tier: premium}
      """;
  private static final String SPEC_V2 = SPEC_V1.replace("perMinute: 100", "perMinute: 200");
  private static final String SPEC_INVALID = SPEC_V1.replace("tier: premium", "tier: gold")
      + "defaultTier: platinum\n";

  private static OperatorHarness harness;

  @BeforeAll
  static void start() {
    harness = new OperatorHarness();
  }

  @AfterAll
  static void stop() {
    harness.close();
  }

  private static CompiledPolicy compiled(String namespace, String name, String specYaml) {
    return PolicyCompiler.compile(new PolicyId(namespace, name), OperatorHarness.spec(specYaml)).policy();
  }

  private static RedisKeys keys(String namespace, String name) {
    return new RedisKeys(new PolicyId(namespace, name));
  }

  private static RateLimitPolicy awaitAccepted(String namespace, String name, String revision) {
    List<RateLimitPolicy> seen = new ArrayList<>(1);
    eventually().untilAsserted(() -> {
      RateLimitPolicy policy = harness.get(namespace, name);
      assertThat(policy.getStatus().revision).isEqualTo(revision);
      assertThat(condition(policy, "Accepted")).hasValueSatisfying(c -> assertThat(c.status).isEqualTo("True"));
      seen.add(policy);
    });
    return seen.get(seen.size() - 1);
  }

  private static List<Event> events(String namespace) {
    return harness.client().v1().events().inNamespace(namespace).list().getItems();
  }

  @Test
  void aCreatedPolicyIsCompiledIntoRedisAndAccepted() {
    String ns = "create";
    harness.create(ns, "agents", SPEC_V1);
    CompiledPolicy expected = compiled(ns, "agents", SPEC_V1);

    RateLimitPolicy policy = awaitAccepted(ns, "agents", expected.revision());

    Condition accepted = condition(policy, "Accepted").orElseThrow();
    assertThat(accepted.reason).isEqualTo("Compiled");
    assertThat(accepted.message).isEqualTo("revision " + expected.revision() + " is compiled and current in Redis");
    assertThat(accepted.observedGeneration).isEqualTo(1L);
    assertThat(accepted.lastTransitionTime).isNotBlank();
    assertThat(policy.getStatus().observedGeneration).isEqualTo(1L);
    assertThat(policy.getMetadata().getFinalizers()).containsExactly(RateLimitPolicyReconciler.FINALIZER);
    try (Jedis jedis = harness.jedis()) {
      assertThat(jedis.get(keys(ns, "agents").currentRevision())).isEqualTo(expected.revision());
      assertThat(jedis.get(keys(ns, "agents").revision(expected.revision()))).isEqualTo(PolicyCodec.toJson(expected));
    }
    assertThat(condition(policy, "Enforced")).hasValueSatisfying(c -> {
      assertThat(c.status).isEqualTo("False");
      assertThat(c.reason).isEqualTo("NoSidecars");
    });
    eventually().untilAsserted(() -> assertThat(events(ns)).anySatisfy(e -> {
      assertThat(e.getType()).isEqualTo("Normal");
      assertThat(e.getReason()).isEqualTo("Accepted");
      assertThat(e.getInvolvedObject().getName()).isEqualTo("agents");
      assertThat(e.getInvolvedObject().getKind()).isEqualTo("RateLimitPolicy");
    }));
  }

  @Test
  void aSettledPolicyIsRefreshedWithoutBeingPatched() {
    String ns = "settled";
    String statusPath = "/apis/ratekeeper.dev/v1alpha1/namespaces/" + ns + "/ratelimitpolicies/agents/status";
    harness.create(ns, "agents", SPEC_V1);
    awaitAccepted(ns, "agents", compiled(ns, "agents", SPEC_V1).revision());
    eventually().untilAsserted(() -> assertThat(harness.get(ns, "agents").getStatus().usage).isNotNull());
    long patches = harness.api.requests("PATCH", statusPath);

    // every policy is refreshed every 300 ms: let several refreshes pass
    double reconciles = harness.count("ratekeeper.operator.reconciles");
    eventually().until(() -> harness.count("ratekeeper.operator.reconciles") >= reconciles + 6);

    assertThat(harness.api.requests("PATCH", statusPath))
        .as("a status equal to the stored one (after the API server's round trip) is not patched again")
        .isEqualTo(patches);
  }

  @Test
  void anUpdateSwitchesToANewRevisionAndTellsSubscribers() throws Exception {
    String ns = "update";
    RedisKeys keys = keys(ns, "agents");
    String v1 = compiled(ns, "agents", SPEC_V1).revision();
    String v2 = compiled(ns, "agents", SPEC_V2).revision();
    harness.create(ns, "agents", SPEC_V1);
    awaitAccepted(ns, "agents", v1);

    List<String> messages = new CopyOnWriteArrayList<>();
    JedisPubSub listener = new JedisPubSub() {
      @Override
      public void onMessage(String channel, String message) {
        messages.add(message);
      }
    };
    Thread subscriber = new Thread(() -> {
      try (Jedis jedis = harness.jedis()) {
        jedis.subscribe(listener, keys.changeChannel());
      }
    });
    subscriber.start();
    eventually().until(listener::isSubscribed);

    harness.updateSpec(ns, "agents", SPEC_V2);

    RateLimitPolicy policy = awaitAccepted(ns, "agents", v2);
    assertThat(policy.getStatus().observedGeneration).isEqualTo(2L);
    eventually().untilAsserted(() -> assertThat(messages).containsExactly(v2));
    listener.unsubscribe();
    subscriber.join(5_000);
    try (Jedis jedis = harness.jedis()) {
      assertThat(jedis.get(keys.currentRevision())).isEqualTo(v2);
      assertThat(jedis.ttl(keys.revision(v2))).isEqualTo(-1);
      assertThat(jedis.ttl(keys.revision(v1))).as("the replaced revision is kept a week").isPositive();
    }
  }

  @Test
  void anInvalidUpdateIsRefusedWithEveryPathAndTheLastGoodRevisionStays() {
    String ns = "invalid";
    String v1 = compiled(ns, "agents", SPEC_V1).revision();
    harness.create(ns, "agents", SPEC_V1);
    awaitAccepted(ns, "agents", v1);

    harness.updateSpec(ns, "agents", SPEC_INVALID);

    eventually().untilAsserted(() -> {
      RateLimitPolicy policy = harness.get(ns, "agents");
      Condition accepted = condition(policy, "Accepted").orElseThrow();
      assertThat(accepted.status).isEqualTo("False");
      assertThat(accepted.reason).isEqualTo("InvalidSpec");
      assertThat(accepted.observedGeneration).isEqualTo(2L);
      assertThat(accepted.message)
          .startsWith("spec refused (revision " + v1 + " stays enforced): ")
          .contains("spec.defaultTier: ")
          .contains("spec.users[0].tier: ");
      assertThat(policy.getStatus().revision).isEqualTo(v1);
    });
    try (Jedis jedis = harness.jedis()) {
      assertThat(jedis.get(keys(ns, "agents").currentRevision())).isEqualTo(v1);
    }
    eventually().untilAsserted(() -> assertThat(events(ns)).anySatisfy(e -> {
      assertThat(e.getType()).isEqualTo("Warning");
      assertThat(e.getReason()).isEqualTo("InvalidSpec");
      assertThat(e.getMessage()).contains("spec.users[0].tier");
    }));
  }

  @Test
  void apiKeysFollowTheSecretAsHashesOnly() {
    String ns = "apikeys";
    String spec = SPEC_V1 + "identity:\n  apiKeySecretRef: {name: agent-keys}\n";
    RedisKeys keys = keys(ns, "agents");
    String revision = compiled(ns, "agents", spec).revision();
    harness.create(ns, "agents", spec);

    eventually().untilAsserted(() -> {
      Condition accepted = condition(harness.get(ns, "agents"), "Accepted").orElseThrow();
      assertThat(accepted.status).isEqualTo("True");
      assertThat(accepted.reason).isEqualTo("SecretMissing");
      assertThat(accepted.message).contains("Secret agent-keys (spec.identity.apiKeySecretRef) not found");
    });

    harness.client().resource(secret(ns, "agent-keys", Map.of("alice", "sk-alice-original", "bob", "sk-bob"))).create();
    eventually().untilAsserted(() -> {
      try (Jedis jedis = harness.jedis()) {
        assertThat(jedis.hgetAll(keys.apiKeys())).isEqualTo(Map.of(
            ApiKeyHashes.sha256Hex("sk-alice-original"), "alice",
            ApiKeyHashes.sha256Hex("sk-bob"), "bob"));
      }
      assertThat(condition(harness.get(ns, "agents"), "Accepted").orElseThrow().reason).isEqualTo("Compiled");
    });

    harness.client().resource(secret(ns, "agent-keys", Map.of("alice", "sk-alice-rotated"))).update();
    eventually().untilAsserted(() -> {
      try (Jedis jedis = harness.jedis()) {
        assertThat(jedis.hgetAll(keys.apiKeys())).isEqualTo(Map.of(
            ApiKeyHashes.sha256Hex("sk-alice-rotated"), "alice"));
      }
    });
    assertThat(harness.get(ns, "agents").getStatus().revision).isEqualTo(revision);
    assertThat(redisContents()).doesNotContain("sk-alice-original", "sk-alice-rotated", "sk-bob");

    harness.client().secrets().inNamespace(ns).withName("agent-keys").delete();
    eventually().untilAsserted(() -> {
      try (Jedis jedis = harness.jedis()) {
        assertThat(jedis.exists(keys.apiKeys())).as("a deleted Secret revokes every key").isFalse();
      }
      assertThat(condition(harness.get(ns, "agents"), "Accepted").orElseThrow().reason).isEqualTo("SecretMissing");
    });
  }

  @Test
  void heartbeatsDecideEnforcedAndStaleSidecarsDoNotCount() {
    String ns = "heartbeats";
    RedisKeys keys = keys(ns, "agents");
    String rev = compiled(ns, "agents", SPEC_V1).revision();
    harness.create(ns, "agents", SPEC_V1);
    awaitAccepted(ns, "agents", rev);
    long now = harness.fleetNow.get();

    heartbeat(keys, "pod-a", now - 1_000, rev);
    heartbeat(keys, "pod-b", now - 2_000, rev);
    heartbeat(keys, "pod-stale", now - 60_000, "0ld0ld0ld0ld");

    eventually().untilAsserted(() -> {
      RateLimitPolicy policy = harness.get(ns, "agents");
      assertThat(policy.getStatus().sidecars).isEqualTo(new SidecarCounts(2, 2));
      Condition enforced = condition(policy, "Enforced").orElseThrow();
      assertThat(enforced.status).isEqualTo("True");
      assertThat(enforced.reason).isEqualTo("SidecarsSynced");
      assertThat(enforced.message).isEqualTo("2/2 sidecars enforce revision " + rev);
    });

    heartbeat(keys, "pod-b", now - 500, "0ld0ld0ld0ld");

    eventually().untilAsserted(() -> {
      RateLimitPolicy policy = harness.get(ns, "agents");
      assertThat(policy.getStatus().sidecars).isEqualTo(new SidecarCounts(2, 1));
      Condition enforced = condition(policy, "Enforced").orElseThrow();
      assertThat(enforced.status).isEqualTo("False");
      assertThat(enforced.reason).isEqualTo("SidecarsBehind");
      assertThat(enforced.message).isEqualTo("1/2 sidecars enforce revision " + rev
          + "; behind: pod-b (revision 0ld0ld0ld0ld)");
    });
  }

  @Test
  void usageCountersOfTheBudgetPeriodShowInStatus() {
    String ns = "usage";
    String spec = SPEC_V1 + "global:\n  budget: {usd: \"500.00\", period: Weekly}\n";
    RedisKeys keys = keys(ns, "agents");
    harness.create(ns, "agents", spec);
    awaitAccepted(ns, "agents", compiled(ns, "agents", spec).revision());

    try (Jedis jedis = harness.jedis()) {
      // the fleet clock is 2026-11-23, ISO week 48; a monthly bucket must not be read
      jedis.hset(keys.stats("2026-W48"), Map.of("requests", "1200", "throttled", "34", "spendMicros", "123450000"));
      jedis.hset(keys.stats("2026-11"), Map.of("requests", "9"));
      jedis.zadd(keys.topUsers("2026-W48"), 40_120_000, "alice");
      jedis.zadd(keys.topUsers("2026-W48"), 1_000_000, "bob");
      jedis.hset(keys.topUserTiers("2026-W48"), Map.of("alice", "premium", "bob", "free"));
      jedis.hset(keys.topUserTokens("2026-W48"), Map.of("alice", "123456", "bob", "800"));
    }

    eventually().untilAsserted(() -> {
      var usage = harness.get(ns, "agents").getStatus().usage;
      assertThat(usage.period).isEqualTo("2026-W48");
      assertThat(usage.spendUsd).isEqualTo("123.45");
      assertThat(usage.requests).isEqualTo(1200L);
      assertThat(usage.throttled).isEqualTo(34L);
      assertThat(usage.topUsers).containsExactly(
          new TopUser("alice", "premium", "40.12", 123_456L),
          new TopUser("bob", "free", "1.00", 800L));
    });
  }

  @Test
  void deletingRemovesTheConfigurationKeysThenTheFinalizer() {
    String ns = "delete";
    String spec = SPEC_V1 + "identity:\n  apiKeySecretRef: {name: agent-keys}\n";
    RedisKeys keys = keys(ns, "agents");
    harness.client().resource(secret(ns, "agent-keys", Map.of("alice", "sk-alice"))).create();
    harness.create(ns, "agents", spec);
    String rev = compiled(ns, "agents", spec).revision();
    awaitAccepted(ns, "agents", rev);
    long now = harness.fleetNow.get();
    heartbeat(keys, "pod-a", now, rev);
    try (Jedis jedis = harness.jedis()) {
      jedis.set(keys.user("alice", "req"), "3", SetParams.setParams().px(60_000));
      jedis.hset(keys.stats("2026-11"), "requests", "3");
      eventually().untilAsserted(() -> assertThat(jedis.exists(keys.apiKeys())).isTrue());
    }

    harness.client().resources(RateLimitPolicy.class).inNamespace(ns).withName("agents").delete();

    eventually().untilAsserted(() -> assertThat(harness.get(ns, "agents")).isNull());
    try (Jedis jedis = harness.jedis()) {
      assertThat(jedis.keys(keys.prefix() + "*"))
          .as("configuration gone, counters and statistics left to their TTLs")
          .containsExactlyInAnyOrder(keys.user("alice", "req"), keys.stats("2026-11"));
    }
  }

  private static void heartbeat(RedisKeys keys, String sidecarId, long atMs, String revision) {
    try (Jedis jedis = harness.jedis()) {
      jedis.zadd(keys.sidecars(), atMs, sidecarId);
      jedis.set(keys.sidecar(sidecarId), revision, SetParams.setParams().px(15_000));
    }
  }

  private static Secret secret(String namespace, String name, Map<String, String> plain) {
    Map<String, String> data = new java.util.TreeMap<>();
    plain.forEach((k, v) -> data.put(k, Base64.getEncoder().encodeToString(v.getBytes(StandardCharsets.UTF_8))));
    return new SecretBuilder().withNewMetadata().withName(name).withNamespace(namespace).endMetadata()
        .withData(data).build();
  }

  /** Every key and every value in Redis, as one string (strings, hashes, sets and sorted sets). */
  private static String redisContents() {
    StringBuilder all = new StringBuilder();
    try (Jedis jedis = harness.jedis()) {
      for (String key : jedis.keys("*")) {
        all.append(key).append('\n');
        switch (jedis.type(key)) {
          case "string" -> all.append(jedis.get(key));
          case "hash" -> all.append(jedis.hgetAll(key));
          case "zset" -> all.append(jedis.zrangeWithScores(key, 0, -1));
          case "set" -> all.append(jedis.smembers(key));
          case "list" -> all.append(jedis.lrange(key, 0, -1));
          default -> all.append("?");
        }
        all.append('\n');
      }
    }
    assertThat(all).as("Redis has content to scan").isNotEmpty();
    return all.toString();
  }
}
