package dev.ratekeeper.operator.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ratekeeper.operator.status.Heartbeat;
import dev.ratekeeper.operator.status.UsageCounters;
import dev.ratekeeper.operator.testing.EmbeddedRedis;
import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.PolicyCodec;
import dev.ratekeeper.policy.compile.PolicyCompiler;
import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.policy.keys.RedisKeys;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.JedisPubSub;

/** The operator's Redis writes and reads against a real redis-server. */
class RedisPolicyStoreIT {
  private static final PolicyId ID = new PolicyId("team-a", "agents");
  private static final RedisKeys KEYS = new RedisKeys(ID);
  private static EmbeddedRedis redis;
  private static RedisPolicyStore store;

  @BeforeAll
  static void startRedis() {
    redis = new EmbeddedRedis();
    store = new RedisPolicyStore(RedisSettings.parse(redis.url(), null), Duration.ofDays(7));
  }

  @AfterAll
  static void stopRedis() {
    store.close();
    redis.close();
  }

  @BeforeEach
  void flush() {
    try (Jedis jedis = redis.client()) {
      jedis.flushAll();
    }
  }

  private static CompiledPolicy compile(int perMinute) {
    RateLimitPolicySpec spec = Serialization.unmarshal(
        "tiers:\n- name: free\n  requests: {perMinute: " + perMinute + "}\n", RateLimitPolicySpec.class);
    return PolicyCompiler.compile(ID, spec).policy();
  }

  @Test
  void publishStoresTheRevisionSwitchesCurrentAndAnnouncesIt() throws Exception {
    List<String> messages = new CopyOnWriteArrayList<>();
    JedisPubSub listener = new JedisPubSub() {
      @Override
      public void onMessage(String channel, String message) {
        messages.add(channel + " " + message);
      }
    };
    Thread subscriber = new Thread(() -> {
      try (Jedis jedis = redis.client()) {
        jedis.subscribe(listener, KEYS.changeChannel());
      }
    });
    subscriber.start();
    org.awaitility.Awaitility.await().atMost(5, TimeUnit.SECONDS).until(listener::isSubscribed);

    CompiledPolicy v1 = compile(10);
    CompiledPolicy v2 = compile(20);
    assertThat(store.publish(v1)).isEqualTo(new PublishResult(v1.revision(), null, true));
    assertThat(store.publish(v1)).isEqualTo(new PublishResult(v1.revision(), v1.revision(), false));
    assertThat(store.publish(v2)).isEqualTo(new PublishResult(v2.revision(), v1.revision(), true));

    try (Jedis jedis = redis.client()) {
      assertThat(jedis.get(KEYS.currentRevision())).isEqualTo(v2.revision());
      assertThat(PolicyCodec.fromJson(jedis.get(KEYS.revision(v2.revision())))).isEqualTo(v2);
      assertThat(jedis.ttl(KEYS.revision(v2.revision()))).isEqualTo(-1);
      long oldTtl = jedis.ttl(KEYS.revision(v1.revision()));
      assertThat(oldTtl).isBetween(Duration.ofDays(7).toSeconds() - 5, Duration.ofDays(7).toSeconds());

      // switching back makes the old revision current and persistent again
      store.publish(v1);
      assertThat(jedis.ttl(KEYS.revision(v1.revision()))).isEqualTo(-1);
      assertThat(jedis.ttl(KEYS.revision(v2.revision()))).isPositive();
    }
    org.awaitility.Awaitility.await().atMost(5, TimeUnit.SECONDS).untilAsserted(() ->
        assertThat(messages).containsExactly(
            KEYS.changeChannel() + " " + v1.revision(),
            KEYS.changeChannel() + " " + v2.revision(),
            KEYS.changeChannel() + " " + v1.revision()));
    listener.unsubscribe();
    subscriber.join(5000);

    assertThat(store.currentRevision(ID)).contains(v1.revision());
    assertThat(store.currentPolicy(ID)).contains(v1);
    assertThat(store.currentPolicy(new PolicyId("team-a", "other"))).isEmpty();
  }

  @Test
  void apiKeysAreReplacedAsAWholeAndOnlyWhenChanged() {
    assertThat(store.replaceApiKeys(ID, Map.of("h1", "alice", "h2", "bob"))).isTrue();
    assertThat(store.replaceApiKeys(ID, Map.of("h1", "alice", "h2", "bob"))).isFalse();
    assertThat(store.replaceApiKeys(ID, Map.of("h3", "alice"))).isTrue();
    try (Jedis jedis = redis.client()) {
      assertThat(jedis.hgetAll(KEYS.apiKeys())).isEqualTo(Map.of("h3", "alice"));
      assertThat(store.replaceApiKeys(ID, Map.of())).isTrue();
      assertThat(jedis.exists(KEYS.apiKeys())).isFalse();
    }
  }

  @Test
  void readsHeartbeatsWithRevisionsAndBuildsAndPrunesOnlyLongDeadOnes() {
    long now = 1_800_000_000_000L;
    try (Jedis jedis = redis.client()) {
      jedis.zadd(KEYS.sidecars(), now - 1_000, "pod-a");
      jedis.zadd(KEYS.sidecars(), now - 60_000, "pod/b");
      jedis.zadd(KEYS.sidecars(), now - Duration.ofHours(2).toMillis(), "long-gone");
      jedis.set(KEYS.sidecar("pod-a"), "rev-a");
      jedis.set(KEYS.sidecar("pod/b"), "rev-b");
      // pod-a is a sidecar that reports its build; pod/b predates the build hash
      jedis.hset(KEYS.sidecarBuild("pod-a"), Map.of("version", "1.4.0", "mode", "gateway"));
      jedis.hset(KEYS.sidecarBuild("gw-only"), Map.of("version", "1.4.0", "mode", "gateway"));
    }

    FleetSnapshot fleet = store.readFleet(ID, now, "2026-11");

    assertThat(fleet.heartbeats()).containsExactlyInAnyOrder(
        new Heartbeat("pod-a", now - 1_000, "rev-a", "1.4.0", "gateway"),
        new Heartbeat("pod/b", now - 60_000, "rev-b", null, null));
    try (Jedis jedis = redis.client()) {
      assertThat(jedis.zscore(KEYS.sidecars(), "long-gone")).isNull();
    }
  }

  @Test
  void readsTheUsageCountersOfThePeriod() {
    try (Jedis jedis = redis.client()) {
      jedis.hset(KEYS.stats("2026-11"), Map.of("requests", "42", "throttled", "3", "spendMicros", "7500000"));
      jedis.hset(KEYS.stats("2026-10"), Map.of("requests", "999"));
      jedis.zadd(KEYS.topUsers("2026-11"), 5_000_000, "alice");
      jedis.zadd(KEYS.topUsers("2026-11"), 2_500_000, "bob");
      jedis.hset(KEYS.topUserTiers("2026-11"), Map.of("alice", "premium", "bob", "free"));
      jedis.hset(KEYS.topUserTokens("2026-11"), Map.of("alice", "1000"));
      for (int i = 0; i < 12; i++) {
        jedis.zadd(KEYS.topUsers("2026-11"), i, "small-" + i);
      }
    }

    UsageCounters usage = store.readFleet(ID, 0, "2026-11").usage();

    assertThat(usage.requests()).isEqualTo(42);
    assertThat(usage.throttled()).isEqualTo(3);
    assertThat(usage.spendMicros()).isEqualTo(7_500_000);
    assertThat(usage.topSpenders()).hasSize(10);
    assertThat(usage.topSpenders().subList(0, 2)).containsExactly(
        new UsageCounters.Spender("alice", 5_000_000, "premium", 1000L),
        new UsageCounters.Spender("bob", 2_500_000, "free", null));
    assertThat(store.readFleet(ID, 0, "2026-09").usage()).isEqualTo(UsageCounters.NONE);
  }

  @Test
  void removeConfigurationLeavesCountersToTheirTtl() {
    store.publish(compile(10));
    store.publish(compile(20));
    store.replaceApiKeys(ID, Map.of("h", "alice"));
    try (Jedis jedis = redis.client()) {
      jedis.zadd(KEYS.sidecars(), 1, "pod-a");
      jedis.set(KEYS.sidecar("pod-a"), "x");
      jedis.hset(KEYS.sidecarBuild("pod-a"), "version", "1.4.0");
      jedis.set(KEYS.user("alice", "req"), "1");
      jedis.hset(KEYS.stats("2026-11"), "requests", "1");
      jedis.set(new RedisKeys(new PolicyId("team-a", "neighbour")).currentRevision(), "keep");
    }

    assertThat(store.removeConfiguration(ID)).isEqualTo(7);

    try (Jedis jedis = redis.client()) {
      assertThat(jedis.keys(KEYS.prefix() + "*")).containsExactlyInAnyOrder(
          KEYS.user("alice", "req"), KEYS.stats("2026-11"));
      assertThat(jedis.exists(new RedisKeys(new PolicyId("team-a", "neighbour")).currentRevision())).isTrue();
    }
  }

  @Test
  void serverTimeIsRedisTime() {
    long before = System.currentTimeMillis();
    assertThat(store.serverTimeMillis()).isBetween(before - 5_000, before + 5_000);
  }

  @Test
  void anUnreachableRedisIsAStoreUnavailableException() {
    try (RedisPolicyStore nowhere = new RedisPolicyStore(
        RedisSettings.parse("redis://127.0.0.1:1", null).withTimeout(Duration.ofMillis(500)), Duration.ofDays(1))) {
      assertThatThrownBy(nowhere::ping)
          .isInstanceOfSatisfying(StoreUnavailableException.class, e ->
              assertThat(e.detail()).startsWith("Redis at redis://127.0.0.1:1 failed while answering PING"));
    }
  }
}
