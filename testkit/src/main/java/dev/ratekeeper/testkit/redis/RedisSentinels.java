package dev.ratekeeper.testkit.redis;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A real master/replica pair watched by 3 sentinels (quorum 2, down after 1 s): killing the master
 * makes the sentinels promote the replica, which clients find again by the master's name.
 */
public final class RedisSentinels implements AutoCloseable {
  public static final String MASTER_NAME = "rkmaster";
  private final RedisNode master;
  private final RedisNode replica;
  private final List<RedisNode> sentinels = new ArrayList<>();

  private RedisSentinels(RedisNode master, RedisNode replica) {
    this.master = master;
    this.replica = replica;
  }

  public static RedisSentinels start() {
    return start(null);
  }

  /**
   * With {@code password} (not null) on the master and the replica ({@code requirepass}, {@code masterauth}),
   * the sentinels told it ({@code sentinel auth-pass}) and themselves without one, as usual.
   */
  public static RedisSentinels start(String password) {
    String[] auth = password == null ? new String[0]
        : new String[] {"--requirepass", password, "--masterauth", password};
    RedisNode master = RedisNode.start(auth);
    RedisSentinels set = null;
    try {
      java.util.List<String> replicaArgs = new ArrayList<>(List.of(auth));
      replicaArgs.addAll(List.of("--replicaof", master.host(), Integer.toString(master.port())));
      RedisNode replica = RedisNode.start(replicaArgs.toArray(String[]::new));
      set = new RedisSentinels(master, replica);
      for (int i = 0; i < 3; i++) {
        set.sentinels.add(RedisNode.startSentinel(List.of(
            "sentinel monitor " + MASTER_NAME + " " + master.host() + " " + master.port() + " 2",
            "sentinel down-after-milliseconds " + MASTER_NAME + " 1000",
            "sentinel failover-timeout " + MASTER_NAME + " 10000",
            "sentinel parallel-syncs " + MASTER_NAME + " 1",
            password == null ? "" : "sentinel auth-pass " + MASTER_NAME + " " + password)));
      }
      RedisSentinels started = set;
      RedisClusterNodes.await("replica in sync and every sentinel seeing the replica and 2 other sentinels",
          Duration.ofSeconds(30), () -> String.valueOf(replica.call("INFO", "replication"))
              .contains("master_link_status:up") && started.sentinels.stream().allMatch(s -> {
                String info = String.valueOf(s.call("INFO", "sentinel"));
                return info.contains("slaves=1,sentinels=3");
              }));
      return set;
    } catch (RuntimeException e) {
      if (set != null) {
        set.close();
      } else {
        master.close();
      }
      throw e;
    }
  }

  /** {@code redis://host:port} of each sentinel. */
  public List<String> sentinelUrls() {
    return sentinels.stream().map(RedisNode::url).toList();
  }

  public List<RedisNode> sentinels() {
    return List.copyOf(sentinels);
  }

  /** The node the sentinels name as master now. */
  public RedisNode currentMaster() {
    for (RedisNode sentinel : sentinels) {
      if (sentinel.alive()) {
        List<?> addr = (List<?>) sentinel.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME);
        int port = Integer.parseInt(String.valueOf(addr.get(1)));
        return master.port() == port ? master : replica;
      }
    }
    throw new IllegalStateException("no sentinel alive");
  }

  public RedisNode initialMaster() {
    return master;
  }

  public RedisNode initialReplica() {
    return replica;
  }

  /** Waits until the sentinels name {@code node} as the master. */
  public void awaitMaster(RedisNode node, Duration timeout) {
    RedisClusterNodes.await(node.address() + " promoted to master", timeout, () -> currentMaster() == node
        && String.valueOf(node.call("INFO", "replication")).contains("role:master"));
  }

  @Override
  public void close() {
    sentinels.forEach(RedisNode::close);
    replica.close();
    master.close();
  }
}
