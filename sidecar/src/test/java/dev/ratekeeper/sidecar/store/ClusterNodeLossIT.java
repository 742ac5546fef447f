package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.limiter.TestPolicy.perMinute;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.policy;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.tier;
import static dev.ratekeeper.sidecar.store.EmbeddedRedis.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.testkit.redis.RedisClusterNodes;
import dev.ratekeeper.testkit.redis.RedisNode;
import io.vertx.core.Vertx;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * What the death of a master that does <em>not</em> own the policy's slot costs a sidecar on a
 * Cluster. The Vert.x Cluster client connects to every master, so the lost node's connection closing
 * makes the link re-connect, and a re-connect fails while any master is unreachable: the sidecar
 * counts Redis as unavailable until that master's replica has taken over, although its own master
 * never stopped. Pinned here (and stated in docs/capacity.md) so that a change of that behaviour is
 * seen: the link must be available again once the Cluster has failed over.
 */
class ClusterNodeLossIT {

  @Test
  void anotherMastersDeathIsAnOutageUntilItsReplicaTakesOver() {
    Vertx vertx = Vertx.vertx();
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(1_000_000, 1_000_000))).build();
    try (RedisClusterNodes cluster = RedisClusterNodes.start()) {
      RedisLink link = await(RedisLink.open(vertx, RedisClientSettings.cluster(cluster.seedUrls()).toOptions(), 2,
          System::nanoTime, RedisLimiterStore::loadScripts));
      AtomicLong unavailableAt = new AtomicLong();
      AtomicLong availableAt = new AtomicLong();
      link.listen(new RedisLink.Listener() {
        @Override
        public void unavailable(String evidence) {
          unavailableAt.compareAndSet(0, System.nanoTime());
        }

        @Override
        public void available() {
          availableAt.set(System.nanoTime());
        }
      });
      RedisLimiterStore store = RedisLimiterStore.create(link::send, LimiterOptions.DEFAULTS, RedisTime.server());
      RedisNode owner = cluster.masterOf(cluster.slotOf("rk:{team-a/agents}:g:req"));
      RedisNode other = cluster.masters().stream().filter(m -> m != owner).findFirst().orElseThrow();
      assertThat(await(store.admit(requestsOnly(p))).allowed()).isTrue();
      long killed = System.nanoTime();
      other.kill();
      long deadline = killed + 20_000_000_000L;
      while (System.nanoTime() < deadline && (unavailableAt.get() == 0 || availableAt.get() == 0)) {
        try {
          await(store.admit(requestsOnly(p)));
        } catch (RuntimeException e) {
          // counted by the listener; admissions fail fast while Redis counts as unavailable
        }
      }
      System.out.println("CLUSTER-FIGURES another master killed: the link counted Redis unavailable "
          + (unavailableAt.get() == 0 ? "never" : (unavailableAt.get() - killed) / 1_000_000 + " ms") + " after the kill,"
          + " available again " + (availableAt.get() == 0 ? "never" : (availableAt.get() - killed) / 1_000_000 + " ms")
          + " after it");
      assertThat(availableAt.get()).as("available again once the Cluster failed over").isPositive();
      assertThat(await(store.admit(requestsOnly(p))).allowed()).isTrue();
      await(link.close());
    } finally {
      await(vertx.close());
    }
  }

  private static AdmitRequest requestsOnly(CompiledPolicy p) {
    return AdmitRequest.requestsOnly(p, UUID.randomUUID().toString(), "alice", p.tier("free").orElseThrow());
  }
}
