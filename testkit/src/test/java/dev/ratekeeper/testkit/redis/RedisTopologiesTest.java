package dev.ratekeeper.testkit.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The topology fixtures start what they say: real processes, checked through their own replies. */
class RedisTopologiesTest {

  @Test
  void clusterHasThreeMastersWithAReplicaEachAndMovesASlotWithItsKeys() {
    try (RedisClusterNodes cluster = RedisClusterNodes.start()) {
      assertThat(cluster.masters()).hasSize(3);
      int slot = cluster.slotOf("rk:{ns/p}:g:req");
      RedisNode owner = cluster.masterOf(slot);
      owner.call("SET", "rk:{ns/p}:a", "1");
      owner.call("SET", "rk:{ns/p}:b", "2");
      RedisNode target = cluster.masters().stream().filter(m -> m != owner).findFirst().orElseThrow();
      assertThat(cluster.moveSlot(slot, target, 1, 0)).isEqualTo(2);
      assertThat(cluster.masterOf(slot)).isSameAs(target);
      assertThat(target.call("GET", "rk:{ns/p}:b")).isEqualTo("2");
      assertThatThrownBy(() -> owner.call("GET", "rk:{ns/p}:b")).hasMessageStartingWith("MOVED " + slot);
      assertThat(cluster.replicaOf(target).call("INFO", "replication").toString()).contains("role:slave");
    }
  }

  @Test
  void sentinelsPromoteTheReplicaWhenTheMasterDies() {
    try (RedisSentinels set = RedisSentinels.start()) {
      assertThat(set.currentMaster()).isSameAs(set.initialMaster());
      set.initialMaster().kill();
      set.awaitMaster(set.initialReplica(), Duration.ofSeconds(30));
    }
  }

  @Test
  void tlsOnlyNodeAnswersOverTlsAndRefusesPlainText() {
    RedisTls tls = RedisTls.create();
    try (RedisNode node = RedisNode.startTls(tls, true)) {
      assertThat(node.call("PING")).isEqualTo("PONG");
      assertThat(node.url()).startsWith("rediss://localhost:");
      assertThatThrownBy(() -> {
        try (RespClient plain = new RespClient(node.host(), node.port())) {
          plain.call("PING");
        }
      }).isInstanceOf(RuntimeException.class);
    }
  }
}
