package dev.ratekeeper.operator.query;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ratekeeper.operator.store.RedisPolicyStore;
import dev.ratekeeper.operator.store.RedisSettings;
import dev.ratekeeper.operator.testing.EmbeddedRedis;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.PolicyCompiler;
import dev.ratekeeper.policy.compile.PolicyDocument;
import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.policy.keys.RedisKeys;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.params.SetParams;

/**
 * {@code enforcement} on a real redis-server with a mixed fleet: sidecars that report their build
 * (the revision key plus the build hash) beside one that predates the build hash (the revision key
 * alone). Both count as enforcing the current revision; versions and modes show where reported.
 */
class FleetViewIT {
  static final PolicyId ID = new PolicyId("team-a", "fleet");
  static final RedisKeys KEYS = new RedisKeys(ID);
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: fleet, namespace: team-a}
      spec:
        tiers:
        - name: free
          requests: {perMinute: 10}
      """;

  static EmbeddedRedis redis;
  static RedisPolicyStore store;
  static CompiledPolicy policy;

  @BeforeAll
  static void start() throws Exception {
    redis = new EmbeddedRedis();
    store = new RedisPolicyStore(RedisSettings.parse(redis.url(), null), Duration.ofDays(7));
    policy = PolicyCompiler.compile(ID, PolicyDocument.parse(POLICY).spec()).policy();
    store.publish(policy);
  }

  @AfterAll
  static void stop() {
    store.close();
    redis.close();
  }

  @Test
  void showsEachSidecarsVersionAndModeAndCountsOldHeartbeatsAlike() {
    long now = store.serverTimeMillis();
    String revision = policy.revision();
    try (Jedis jedis = new Jedis("127.0.0.1", redis.port())) {
      SetParams ttl = SetParams.setParams().px(15_000);
      for (String id : new String[] {"agent-new", "gateway-1", "agent-old"}) {
        jedis.zadd(KEYS.sidecars(), now - 2_000, id);
        jedis.set(KEYS.sidecar(id), revision, ttl);
      }
      jedis.hset(KEYS.sidecarBuild("agent-new"), Map.of("version", "1.4.0", "mode", "sidecar"));
      jedis.hset(KEYS.sidecarBuild("gateway-1"), Map.of("version", "1.5.0", "mode", "gateway"));
    }

    FleetView.Enforced enforced = new FleetView(store, Duration.ofSeconds(30)).enforcement(ID);

    assertThat(enforced.live()).isEqualTo(3);
    assertThat(enforced.synced()).as("a heartbeat without the build hash still counts").isEqualTo(3);
    assertThat(enforced.sidecars()).extracting(FleetView.Sidecar::id, FleetView.Sidecar::revision,
        FleetView.Sidecar::version, FleetView.Sidecar::mode).containsExactly(
            org.assertj.core.groups.Tuple.tuple("agent-new", revision, "1.4.0", "sidecar"),
            org.assertj.core.groups.Tuple.tuple("agent-old", revision, null, null),
            org.assertj.core.groups.Tuple.tuple("gateway-1", revision, "1.5.0", "gateway"));
    // on the wire, an old sidecar simply has no version or mode
    JsonNode json = new ObjectMapper().valueToTree(enforced);
    assertThat(json.path("sidecars").get(0).path("version").asText()).isEqualTo("1.4.0");
    assertThat(json.path("sidecars").get(1).has("version")).isFalse();
    assertThat(json.path("sidecars").get(1).has("mode")).isFalse();
    assertThat(json.path("sidecars").get(2).path("mode").asText()).isEqualTo("gateway");
  }
}
