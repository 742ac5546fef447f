package dev.ratekeeper.operator.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.PolicyCompiler;
import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.policy.keys.RedisKeys;
import dev.ratekeeper.testkit.redis.RedisClusterNodes;
import dev.ratekeeper.testkit.redis.RedisNode;
import dev.ratekeeper.testkit.redis.RedisSentinels;
import dev.ratekeeper.testkit.redis.RedisTls;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/** The operator's store on real Redis Cluster, Sentinel and TLS-only topologies. */
class RedisTopologiesIT {

  private static CompiledPolicy compile(PolicyId id, int perMinute) {
    RateLimitPolicySpec spec = Serialization.unmarshal(
        "tiers:\n- name: free\n  requests: {perMinute: " + perMinute + "}\n", RateLimitPolicySpec.class);
    return PolicyCompiler.compile(id, spec).policy();
  }

  @Test
  void clusterSpreadsPoliciesOverMastersFollowsAMovedSlotAndAFailoverAndCleansUpEveryMaster() {
    try (RedisClusterNodes cluster = RedisClusterNodes.start();
        RedisPolicyStore store = new RedisPolicyStore(RedisSettings.parse(dev.ratekeeper.cli.RedisEndpoint.Mode.CLUSTER,
            cluster.seedUrls(), null, null), Duration.ofDays(1))) {
      store.ping();
      List<PolicyId> ids = new ArrayList<>();
      Set<Integer> owners = new HashSet<>();
      for (int i = 0; i < 30; i++) {
        PolicyId id = new PolicyId("ns-" + i, "agents");
        ids.add(id);
        store.publish(compile(id, 10 + i));
        owners.add(cluster.masterOf(cluster.slotOf(new RedisKeys(id).currentRevision())).port());
      }
      assertThat(owners).as("masters holding some policy").hasSize(3);
      for (int i = 0; i < ids.size(); i++) {
        assertThat(store.currentPolicy(ids.get(i)).orElseThrow().tiers().get(0).requests().limit())
            .isEqualTo(10 + i);
      }

      // the slot of ns-0 moves: the store's next call meets MOVED, learns the new map and succeeds
      PolicyId moved = ids.get(0);
      int slot = cluster.slotOf(new RedisKeys(moved).currentRevision());
      RedisNode from = cluster.masterOf(slot);
      RedisNode to = cluster.masters().stream().filter(m -> m != from).findFirst().orElseThrow();
      cluster.moveSlot(slot, to, 100, 0);
      CompiledPolicy next = compile(moved, 99);
      assertThat(store.publish(next).switched()).isTrue();
      assertThat(to.call("GET", new RedisKeys(moved).currentRevision())).isEqualTo(next.revision());

      assertThat(store.removeConfiguration(moved)).isEqualTo(3); // current, and the two revisions
      assertThat(store.currentRevision(moved)).isEmpty();
      assertThat(store.currentRevision(ids.get(1))).isPresent();

      // the master of ns-1's slot dies: once its replica is promoted the store reaches it, no restart
      PolicyId orphan = ids.get(1);
      RedisNode dead = cluster.masterOf(cluster.slotOf(new RedisKeys(orphan).currentRevision()));
      RedisNode heir = cluster.replicaOf(dead);
      dead.kill();
      CompiledPolicy after = compile(orphan, 77);
      Awaitility.await().atMost(30, TimeUnit.SECONDS).ignoreExceptions()
          .until(() -> store.publish(after).revision().equals(after.revision()));
      assertThat(heir.call("GET", new RedisKeys(orphan).currentRevision())).isEqualTo(after.revision());
    }
  }

  @Test
  void sentinelFindsTheMasterByNameAndFollowsAFailover() {
    // the data nodes require a password, the sentinels none
    try (RedisSentinels set = RedisSentinels.start("s3cret-data");
        RedisPolicyStore store = new RedisPolicyStore(RedisSettings.parse(dev.ratekeeper.cli.RedisEndpoint.Mode.SENTINEL,
            set.sentinelUrls(), RedisSentinels.MASTER_NAME, "s3cret-data").withTimeout(Duration.ofMillis(500)),
            Duration.ofDays(1))) {
      PolicyId id = new PolicyId("team-a", "agents");
      store.publish(compile(id, 10));
      assertThat(set.initialMaster().call("GET", new RedisKeys(id).currentRevision())).isNotNull();
      set.initialMaster().kill();
      set.awaitMaster(set.initialReplica(), Duration.ofSeconds(30));
      CompiledPolicy next = compile(id, 20);
      // the pool learns the new master from the sentinels; a call in the switch-over may fail and is retried
      Awaitility.await().atMost(15, TimeUnit.SECONDS).ignoreExceptions()
          .until(() -> store.publish(next).revision().equals(next.revision()));
      assertThat(set.initialReplica().call("GET", new RedisKeys(id).currentRevision())).isEqualTo(next.revision());
    }
  }

  @Test
  void tlsWithAPrivateCaAndAClientCertificate() {
    RedisTls tls = RedisTls.create();
    try (RedisNode redis = RedisNode.startTls(tls, true)) {
      PolicyId id = new PolicyId("team-a", "agents");
      RedisSettings good = RedisSettings.parse("rediss://localhost:" + redis.port(), null)
          .withTls(tls.caCertificate(), tls.clientCertificate(), tls.clientKey(), true);
      try (RedisPolicyStore store = new RedisPolicyStore(good, Duration.ofDays(1))) {
        store.publish(compile(id, 10));
        assertThat(store.currentRevision(id)).isPresent();
      }
      RedisSettings wrongName = RedisSettings.parse("rediss://127.0.0.1:" + redis.port(), null)
          .withTls(tls.caCertificate(), tls.clientCertificate(), tls.clientKey(), true);
      try (RedisPolicyStore store = new RedisPolicyStore(wrongName, Duration.ofDays(1))) {
        assertThatThrownBy(store::ping).isInstanceOf(StoreUnavailableException.class);
      }
      try (RedisPolicyStore store = new RedisPolicyStore(wrongName.withTls(tls.caCertificate(),
          tls.clientCertificate(), tls.clientKey(), false), Duration.ofDays(1))) {
        store.ping();
      }
      RedisTls other = RedisTls.create();
      try (RedisPolicyStore store = new RedisPolicyStore(good.withTls(other.caCertificate(), tls.clientCertificate(),
          tls.clientKey(), true), Duration.ofDays(1))) {
        assertThatThrownBy(store::ping).isInstanceOf(StoreUnavailableException.class);
      }
    }
  }
}
