package dev.ratekeeper.testkit.redis;

import dev.ratekeeper.testkit.FreePort;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/**
 * A real Redis Cluster of 3 masters, each with 1 replica: six {@code redis-server} processes, met and
 * given slots with {@code CLUSTER MEET}/{@code ADDSLOTSRANGE}/{@code REPLICATE}, ready once every node
 * reports {@code cluster_state:ok}. Node timeout 1 s, so a killed master's replica takes over within a
 * few seconds. Slots can be moved by hand, keys included ({@link #moveSlot}).
 */
public final class RedisClusterNodes implements AutoCloseable {
  public static final int SLOTS = 16_384;
  private final List<RedisNode> nodes = new ArrayList<>();

  private RedisClusterNodes() {}

  /** 3 masters + 3 replicas; {@code extra} options go to every node (e.g. an ACL user). */
  public static RedisClusterNodes start(String... extra) {
    RedisClusterNodes cluster = new RedisClusterNodes();
    List<String> options = new ArrayList<>(List.of("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
        "--cluster-node-timeout", "1000", "--cluster-require-full-coverage", "no"));
    options.addAll(List.of(extra));
    try {
      for (int i = 0; i < 6; i++) {
        // the bus port is a free port of its own, chosen again whenever the node is started on a fresh port
        cluster.nodes.add(RedisNode.start(FreePort::find, null, () -> Stream.concat(options.stream(),
            Stream.of("--cluster-port", Integer.toString(FreePort.find()))).toList()));
      }
      cluster.form();
      return cluster;
    } catch (RuntimeException e) {
      cluster.close();
      throw e;
    }
  }

  private void form() {
    RedisNode first = nodes.get(0);
    for (RedisNode node : nodes.subList(1, nodes.size())) {
      first.call("CLUSTER", "MEET", node.host(), node.port(), busPort(node));
    }
    int per = SLOTS / 3;
    for (int m = 0; m < 3; m++) {
      int from = m * per;
      int to = m == 2 ? SLOTS - 1 : (m + 1) * per - 1;
      nodes.get(m).call("CLUSTER", "ADDSLOTSRANGE", from, to);
    }
    await("all six nodes know each other", Duration.ofSeconds(20),
        () -> nodes.stream().allMatch(n -> clusterNodes(n).size() == 6));
    for (int r = 0; r < 3; r++) {
      nodes.get(3 + r).call("CLUSTER", "REPLICATE", id(nodes.get(r)));
    }
    awaitHealthy(Duration.ofSeconds(30));
  }

  /** Waits until every live node reports {@code cluster_state:ok} and each master has a synced replica. */
  public void awaitHealthy(Duration timeout) {
    await("cluster_state:ok on every node with replicas in sync", timeout, () -> {
      for (RedisNode node : live()) {
        if (!String.valueOf(node.call("CLUSTER", "INFO")).contains("cluster_state:ok")) {
          return false;
        }
        String info = String.valueOf(node.call("INFO", "replication"));
        if (info.contains("role:slave") && !info.contains("master_link_status:up")) {
          return false;
        }
      }
      return true;
    });
  }

  private static int busPort(RedisNode node) {
    return Integer.parseInt(String.valueOf(((List<?>) node.call("CONFIG", "GET", "cluster-port")).get(1)));
  }

  /** Each node's line of {@code CLUSTER NODES}, by node id: id, address, flags, master id, ..., slots. */
  private static Map<String, String[]> clusterNodes(RedisNode node) {
    Map<String, String[]> out = new TreeMap<>();
    for (String line : String.valueOf(node.call("CLUSTER", "NODES")).split("\n")) {
      if (!line.isBlank()) {
        String[] fields = line.trim().split(" ");
        out.put(fields[0], fields);
      }
    }
    return out;
  }

  public static String id(RedisNode node) {
    return String.valueOf(node.call("CLUSTER", "MYID"));
  }

  public List<RedisNode> nodes() {
    return List.copyOf(nodes);
  }

  public List<RedisNode> live() {
    return nodes.stream().filter(RedisNode::alive).toList();
  }

  /** {@code host:port} of every node: the seeds a client starts from. */
  public List<String> seedUrls() {
    return nodes.stream().map(RedisNode::url).toList();
  }

  /** The node serving {@code slot} now, as the live nodes see it. */
  public RedisNode masterOf(int slot) {
    RedisNode asked = live().get(0);
    for (Object range : (List<?>) asked.call("CLUSTER", "SLOTS")) {
      List<?> r = (List<?>) range;
      if ((Long) r.get(0) <= slot && slot <= (Long) r.get(1)) {
        int port = ((Long) ((List<?>) r.get(2)).get(1)).intValue();
        return byPort(port).orElseThrow();
      }
    }
    throw new IllegalStateException("slot " + slot + " is not served");
  }

  /** The masters serving slots now. */
  public List<RedisNode> masters() {
    List<RedisNode> out = new ArrayList<>();
    for (Object range : (List<?>) live().get(0).call("CLUSTER", "SLOTS")) {
      int port = ((Long) ((List<?>) ((List<?>) range).get(2)).get(1)).intValue();
      byPort(port).filter(n -> !out.contains(n)).ifPresent(out::add);
    }
    return out;
  }

  /** The replica of {@code master}. */
  public RedisNode replicaOf(RedisNode master) {
    String masterId = id(master);
    for (String[] fields : clusterNodes(master).values()) {
      if (masterId.equals(fields[3])) {
        int port = Integer.parseInt(fields[1].substring(fields[1].indexOf(':') + 1, fields[1].indexOf('@')));
        return byPort(port).orElseThrow();
      }
    }
    throw new IllegalStateException("no replica of " + master.address());
  }

  private Optional<RedisNode> byPort(int port) {
    return nodes.stream().filter(n -> n.port() == port).findFirst();
  }

  /** The cluster slot of {@code key} (its hash tag if it has one), as the node computes it. */
  public int slotOf(String key) {
    return ((Long) live().get(0).call("CLUSTER", "KEYSLOT", key)).intValue();
  }

  /**
   * Moves {@code slot} and its keys to {@code target} the way {@code redis-cli --cluster reshard}
   * does: IMPORTING/MIGRATING, {@code MIGRATE} in batches of {@code batch} keys with {@code pauseMs}
   * between them (live traffic sees ASK and TRYAGAIN meanwhile), then the slot's new owner announced
   * to every master. Returns the number of keys moved.
   */
  public int moveSlot(int slot, RedisNode target, int batch, long pauseMs) {
    RedisNode source = masterOf(slot);
    if (source == target) {
      return 0;
    }
    String sourceId = id(source);
    String targetId = id(target);
    target.call("CLUSTER", "SETSLOT", slot, "IMPORTING", sourceId);
    source.call("CLUSTER", "SETSLOT", slot, "MIGRATING", targetId);
    int moved = 0;
    while (true) {
      List<?> keys = (List<?>) source.call("CLUSTER", "GETKEYSINSLOT", slot, batch);
      if (keys.isEmpty()) {
        break;
      }
      List<Object> migrate = new ArrayList<>(List.of("MIGRATE", target.host(), target.port(), "", 0, 5000, "REPLACE",
          "KEYS"));
      migrate.addAll(keys);
      source.call(migrate.toArray());
      moved += keys.size();
      if (pauseMs > 0) {
        RedisNode.sleep(pauseMs);
      }
    }
    target.call("CLUSTER", "SETSLOT", slot, "NODE", targetId);
    source.call("CLUSTER", "SETSLOT", slot, "NODE", targetId);
    for (RedisNode master : masters()) {
      if (master != source && master != target) {
        master.call("CLUSTER", "SETSLOT", slot, "NODE", targetId);
      }
    }
    return moved;
  }

  /** Runs {@code command} on every live node (ACL SETUSER: ACLs are per node). */
  public void onEveryNode(Object... command) {
    live().forEach(n -> n.call(command));
  }

  static void await(String what, Duration timeout, BooleanSupplier condition) {
    long deadline = System.nanoTime() + timeout.toNanos();
    RuntimeException last = null;
    while (System.nanoTime() < deadline) {
      try {
        if (condition.getAsBoolean()) {
          return;
        }
      } catch (RuntimeException e) {
        last = e;
      }
      RedisNode.sleep(50);
    }
    throw new IllegalStateException("timed out waiting for " + what, last);
  }

  @Override
  public void close() {
    nodes.forEach(RedisNode::close);
  }
}
