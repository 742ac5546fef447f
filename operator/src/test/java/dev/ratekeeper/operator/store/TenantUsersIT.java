package dev.ratekeeper.operator.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ratekeeper.policy.keys.TenantAcl;
import dev.ratekeeper.testkit.redis.RedisClusterNodes;
import dev.ratekeeper.testkit.redis.RedisNode;
import dev.ratekeeper.testkit.redis.RedisSentinels;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;

/** Per-namespace Redis users written by the operator, checked by logging in as them on real nodes. */
class TenantUsersIT {

  private static Jedis as(RedisNode node, String namespace, String password) {
    return new Jedis(new HostAndPort(node.host(), node.port()), DefaultJedisClientConfig.builder()
        .user(TenantAcl.userName(namespace)).password(password).build());
  }

  @Test
  void aTenantReachesItsOwnKeysAndChannelsOnlyOnEveryClusterNodeReplicasIncluded() {
    try (RedisClusterNodes cluster = RedisClusterNodes.start();
        RedisPolicyStore store = new RedisPolicyStore(RedisSettings.parse(dev.ratekeeper.cli.RedisEndpoint.Mode.CLUSTER,
            cluster.seedUrls(), null, null), Duration.ofDays(1))) {
      store.tenantUsers().ensure("team-a", "pw-a");
      store.tenantUsers().ensure("team-b", "pw-b");
      String own = "rk:{team-a/agents}:policy:current";
      String other = "rk:{team-b/agents}:policy:current";
      RedisNode ownMaster = cluster.masterOf(cluster.slotOf(own));
      RedisNode otherMaster = cluster.masterOf(cluster.slotOf(other));
      try (Jedis a = as(ownMaster, "team-a", "pw-a")) {
        assertThat(a.set(own, "r1")).isEqualTo("OK");
        assertThat(a.publish("rk:{team-a/agents}:policy:changed", "r1")).isZero();
        assertThatThrownBy(() -> a.publish("rk:{team-b/agents}:policy:changed", "x")).hasMessageContaining("NOPERM");
        assertThatThrownBy(a::flushAll).hasMessageContaining("NOPERM");
        assertThatThrownBy(() -> a.scan("0")).hasMessageContaining("NOPERM");
      }
      try (Jedis a = as(otherMaster, "team-a", "pw-a")) {
        assertThatThrownBy(() -> a.get(other)).hasMessageContaining("NOPERM");
        assertThatThrownBy(() -> a.eval("return redis.call('GET', KEYS[1])", 1, other)).hasMessageContaining("NOPERM");
      }
      try (Jedis b = as(otherMaster, "team-b", "pw-b")) {
        assertThat(b.get(other)).isNull();
      }
      assertThatThrownBy(() -> as(ownMaster, "team-a", "pw-b").ping()).hasMessageContaining("WRONGPASS");
      // the replica that takes over knows the user too
      RedisNode replica = cluster.replicaOf(ownMaster);
      try (Jedis a = as(replica, "team-a", "pw-a")) {
        assertThat(a.ping()).isEqualTo("PONG");
      }
      store.tenantUsers().ensure("team-a", "rotated");
      assertThatThrownBy(() -> as(replica, "team-a", "pw-a").ping()).hasMessageContaining("WRONGPASS");
      store.tenantUsers().remove("team-a");
      assertThatThrownBy(() -> as(ownMaster, "team-a", "rotated").ping()).hasMessageContaining("WRONGPASS");
    }
  }

  @Test
  void sentinelUsersAreWrittenOnTheMasterAndItsReplica() {
    try (RedisSentinels set = RedisSentinels.start();
        RedisPolicyStore store = new RedisPolicyStore(RedisSettings.parse(dev.ratekeeper.cli.RedisEndpoint.Mode.SENTINEL,
            set.sentinelUrls(), RedisSentinels.MASTER_NAME, null), Duration.ofDays(1))) {
      store.tenantUsers().ensure("team-a", "pw-a");
      for (RedisNode node : new RedisNode[] {set.initialMaster(), set.initialReplica()}) {
        try (Jedis a = as(node, "team-a", "pw-a")) {
          assertThat(a.ping()).isEqualTo("PONG");
        }
      }
    }
  }
}
