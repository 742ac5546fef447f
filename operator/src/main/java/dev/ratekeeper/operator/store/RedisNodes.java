package dev.ratekeeper.operator.store;

import dev.ratekeeper.operator.webhook.tls.Pem;
import java.io.IOException;
import java.nio.file.Files;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;
import org.apache.commons.pool2.impl.GenericObjectPoolConfig;
import redis.clients.jedis.Connection;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.JedisClientConfig;
import redis.clients.jedis.JedisPool;
import redis.clients.jedis.JedisSentinelPool;
import redis.clients.jedis.exceptions.JedisConnectionException;
import redis.clients.jedis.exceptions.JedisException;
import redis.clients.jedis.exceptions.JedisMovedDataException;
import redis.clients.jedis.providers.ClusterConnectionProvider;
import redis.clients.jedis.util.JedisClusterCRC16;
import redis.clients.jedis.util.Pool;

/**
 * The operator's connections to Redis, whatever the topology: a {@link Jedis} on the node that owns
 * a policy's keys (all in one Cluster slot, so WATCH/MULTI and pipelines work unchanged), and one on
 * every master (SCAN). Standalone: a pool. Sentinel: a pool that follows the master the sentinels
 * name. Cluster: a pool per node and the slot map, renewed when a node answers MOVED.
 */
abstract class RedisNodes implements AutoCloseable {
  /** Runs {@code command} on the node that owns {@code key}. */
  abstract <T> T onNodeOf(String key, Function<Jedis, T> command);

  /** Runs {@code command} on every master (one only, unless a Cluster). */
  abstract <T> List<T> onEveryMaster(Function<Jedis, T> command);

  /**
   * Runs {@code command} on every data node, replicas included (ACL users are not replicated, and a
   * replica that takes over must know them).
   */
  abstract void onEveryNode(java.util.function.Consumer<Jedis> command);

  @Override
  public abstract void close();

  static RedisNodes open(RedisSettings settings) {
    JedisClientConfig client = clientConfig(settings, "ratekeeper-operator");
    return switch (settings.mode()) {
      case STANDALONE -> new Pooled(new JedisPool(poolConfig(settings),
          new HostAndPort(settings.host(), settings.port()), client), List::of);
      case SENTINEL -> {
        Set<HostAndPort> sentinels = new LinkedHashSet<>();
        settings.nodes().forEach(n -> sentinels.add(new HostAndPort(n.host(), n.port())));
        // sentinels are asked without the data nodes' ACL user (Sentinel has its own users)
        JedisClientConfig sentinelClient = clientConfig(settings.withLogin(null, null), "ratekeeper-operator");
        yield new Pooled(new JedisSentinelPool(settings.masterName(), sentinels, poolConfig(settings), client,
            sentinelClient), () -> replicasOf(settings.masterName(), sentinels, sentinelClient, client));
      }
      case CLUSTER -> {
        Set<HostAndPort> seeds = new LinkedHashSet<>();
        settings.nodes().forEach(n -> seeds.add(new HostAndPort(n.host(), n.port())));
        GenericObjectPoolConfig<Connection> pool = new GenericObjectPoolConfig<>();
        pool.setMaxTotal(8);
        pool.setMaxWait(settings.timeout());
        pool.setJmxEnabled(false);
        yield new Cluster(new ClusterConnectionProvider(seeds, client, pool), client);
      }
    };
  }

  private static <T> GenericObjectPoolConfig<T> poolConfig(RedisSettings settings) {
    GenericObjectPoolConfig<T> pool = new GenericObjectPoolConfig<>();
    pool.setMaxTotal(8);
    pool.setMaxIdle(8);
    pool.setMaxWait(settings.timeout());
    pool.setJmxEnabled(false);
    return pool;
  }

  static JedisClientConfig clientConfig(RedisSettings settings, String clientName) {
    int timeout = (int) settings.timeout().toMillis();
    DefaultJedisClientConfig.Builder client = DefaultJedisClientConfig.builder()
        .connectionTimeoutMillis(timeout)
        .socketTimeoutMillis(timeout)
        .ssl(settings.tls())
        .database(settings.database())
        .clientName(clientName);
    if (settings.user() != null) {
      client.user(settings.user());
    }
    if (settings.password() != null) {
      client.password(settings.password());
    }
    if (settings.tls()) {
      if (settings.caFile() != null || settings.certFile() != null) {
        client.sslSocketFactory(sslContext(settings).getSocketFactory());
      }
      if (settings.verifyHostname()) {
        SSLParameters parameters = new SSLParameters();
        parameters.setEndpointIdentificationAlgorithm("HTTPS");
        client.sslParameters(parameters);
      }
    }
    return client.build();
  }

  /** Trusts the CA file (else the JVM's trust store) and presents the client certificate, if any. */
  private static SSLContext sslContext(RedisSettings settings) {
    try {
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      if (settings.caFile() == null) {
        tmf.init((KeyStore) null);
      } else {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        int i = 0;
        for (X509Certificate ca : Pem.certificates(Files.readString(settings.caFile()))) {
          trust.setCertificateEntry("ca" + i++, ca);
        }
        tmf.init(trust);
      }
      KeyManagerFactory kmf = null;
      if (settings.certFile() != null) {
        KeyStore keys = KeyStore.getInstance("PKCS12");
        keys.load(null, null);
        List<X509Certificate> chain = Pem.certificates(Files.readString(settings.certFile()));
        keys.setKeyEntry("client", Pem.privateKey(Files.readString(settings.keyFile())), new char[0],
            chain.toArray(X509Certificate[]::new));
        kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, new char[0]);
      }
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
      return context;
    } catch (IOException | GeneralSecurityException e) {
      throw new IllegalArgumentException("cannot read the Redis TLS files (" + settings.caFile() + ", "
          + settings.certFile() + "): " + e.getMessage(), e);
    }
  }

  /** The replicas the sentinels know of {@code masterName}, each opened as a {@link Jedis} (caller closes). */
  private static List<Jedis> replicasOf(String masterName, Set<HostAndPort> sentinels, JedisClientConfig sentinelClient,
      JedisClientConfig client) {
    for (HostAndPort sentinel : sentinels) {
      try (Jedis asked = new Jedis(sentinel, sentinelClient)) {
        List<Jedis> replicas = new ArrayList<>();
        for (java.util.Map<String, String> replica : asked.sentinelReplicas(masterName)) {
          if (!replica.getOrDefault("flags", "").contains("down")) {
            replicas.add(new Jedis(new HostAndPort(replica.get("ip"), Integer.parseInt(replica.get("port"))), client));
          }
        }
        return replicas;
      } catch (redis.clients.jedis.exceptions.JedisConnectionException e) {
        // the next sentinel
      }
    }
    throw new redis.clients.jedis.exceptions.JedisConnectionException("no sentinel answered " + sentinels);
  }

  /** One pool (standalone, or the master a sentinel pool follows) and the replicas beside it. */
  private static final class Pooled extends RedisNodes {
    private final Pool<Jedis> pool;
    private final java.util.function.Supplier<List<Jedis>> replicas;

    Pooled(Pool<Jedis> pool, java.util.function.Supplier<List<Jedis>> replicas) {
      this.pool = pool;
      this.replicas = replicas;
    }

    @Override
    void onEveryNode(java.util.function.Consumer<Jedis> command) {
      onNodeOf("", jedis -> {
        command.accept(jedis);
        return null;
      });
      for (Jedis replica : replicas.get()) {
        try (replica) {
          command.accept(replica);
        }
      }
    }

    @Override
    <T> T onNodeOf(String key, Function<Jedis, T> command) {
      try (Jedis jedis = pool.getResource()) {
        return command.apply(jedis);
      }
    }

    @Override
    <T> List<T> onEveryMaster(Function<Jedis, T> command) {
      return List.of(onNodeOf("", command));
    }

    @Override
    public void close() {
      pool.close();
    }
  }

  /** A Redis Cluster: the slot's node for one policy, each master for SCAN. */
  private static final class Cluster extends RedisNodes {
    private static final int ATTEMPTS = 3;
    private static final int SLOTS = 16_384;
    private final ClusterConnectionProvider provider;
    private final JedisClientConfig client;

    Cluster(ClusterConnectionProvider provider, JedisClientConfig client) {
      this.provider = provider;
      this.client = client;
    }

    @Override
    <T> T onNodeOf(String key, Function<Jedis, T> command) {
      int slot = JedisClusterCRC16.getSlot(key);
      for (int attempt = 1; ; attempt++) {
        try (Jedis jedis = new Jedis(provider.getConnectionFromSlot(slot))) {
          return command.apply(jedis);
        } catch (JedisMovedDataException | JedisConnectionException e) {
          // the slot moved (a reshard) or its master is gone (a failover): learn the map again from a live
          // node and go to the slot's owner; a reconcile that still fails is retried with backoff
          if (attempt == ATTEMPTS) {
            throw e;
          }
          try {
            provider.renewSlotCache();
          } catch (JedisException renewFailed) {
            e.addSuppressed(renewFailed);
            throw e;
          }
        }
      }
    }

    @Override
    <T> List<T> onEveryMaster(Function<Jedis, T> command) {
      provider.renewSlotCache();
      Set<HostAndPort> masters = new LinkedHashSet<>();
      for (int slot = 0; slot < SLOTS; slot++) {
        HostAndPort node = provider.getNode(slot);
        if (node != null) {
          masters.add(node);
        }
      }
      List<T> results = new ArrayList<>();
      for (HostAndPort master : masters) {
        try (Jedis jedis = new Jedis(provider.getConnection(master))) {
          results.add(command.apply(jedis));
        }
      }
      return results;
    }

    @Override
    void onEveryNode(java.util.function.Consumer<Jedis> command) {
      // CLUSTER NODES: "<id> <ip:port@bus[,hostname]> <flags> ..."; replicas included, failed nodes skipped
      String table = onNodeOf("", Jedis::clusterNodes);
      for (String line : table.split("\n")) {
        String[] fields = line.trim().split(" ");
        if (fields.length < 3 || fields[2].contains("fail") || fields[2].contains("noaddr")) {
          continue;
        }
        String address = fields[1].split("[@,]")[0];
        try (Jedis jedis = new Jedis(HostAndPort.from(address), client)) {
          command.accept(jedis);
        }
      }
    }

    @Override
    public void close() {
      provider.close();
    }
  }
}
