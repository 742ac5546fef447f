package dev.ratekeeper.sidecar.store;

import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.redis.client.RedisClientType;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.RedisRole;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * Where the sidecar's Redis is and how to reach it: one node, a Redis Cluster (seed nodes; the
 * client learns the slots and follows MOVED/ASK), or a master found by name through Sentinel (found
 * again after a failover on every re-connect). TLS is on for {@code rediss://} URLs or when a CA
 * file or client certificate is given: the server certificate is checked against {@code caFile}
 * (else the JVM's trust store) and, unless {@code verifyHostname} is false, against the host name
 * in the URL. {@code user}/{@code password} log in (Redis 6 ACL user, or the default user when
 * {@code user} is null). {@link #toString()} shows no password.
 */
public record RedisClientSettings(Mode mode, List<String> urls, String masterName, String user, String password,
    Path caFile, Path certFile, Path keyFile, boolean verifyHostname) {

  /** How the nodes are arranged. */
  public enum Mode { STANDALONE, CLUSTER, SENTINEL }

  public RedisClientSettings {
    Objects.requireNonNull(mode, "mode");
    urls = List.copyOf(urls);
    if (urls.isEmpty()) {
      throw new IllegalArgumentException("no Redis URL");
    }
    if (mode == Mode.STANDALONE && urls.size() != 1) {
      throw new IllegalArgumentException("a standalone Redis has one URL; several are cluster seeds or sentinels");
    }
    if (mode == Mode.SENTINEL && (masterName == null || masterName.isBlank())) {
      throw new IllegalArgumentException("Sentinel needs the master's name");
    }
    if ((certFile == null) != (keyFile == null)) {
      throw new IllegalArgumentException("a client certificate needs its key, and a key its certificate");
    }
  }

  /** What the command line said ({@link dev.ratekeeper.cli.RedisEndpoint}: its rules, checked there). */
  public static RedisClientSettings of(dev.ratekeeper.cli.RedisEndpoint endpoint) {
    return new RedisClientSettings(Mode.valueOf(endpoint.mode().name()), endpoint.urls(), endpoint.masterName(),
        endpoint.user(), endpoint.password(), endpoint.caFile(), endpoint.certFile(), endpoint.keyFile(),
        endpoint.verifyHostname());
  }

  /** One node: {@code redis://} or {@code rediss://}, an optional password. */
  public static RedisClientSettings standalone(String url, String password) {
    return new RedisClientSettings(Mode.STANDALONE, List.of(url), null, null, password, null, null, null, true);
  }

  public static RedisClientSettings cluster(List<String> seeds) {
    return new RedisClientSettings(Mode.CLUSTER, seeds, null, null, null, null, null, null, true);
  }

  public static RedisClientSettings sentinel(List<String> sentinels, String masterName) {
    return new RedisClientSettings(Mode.SENTINEL, sentinels, masterName, null, null, null, null, null, true);
  }

  /** The same nodes, logging in as {@code user} with {@code password}. */
  public RedisClientSettings withLogin(String user, String password) {
    return new RedisClientSettings(mode, urls, masterName, user, password, caFile, certFile, keyFile, verifyHostname);
  }

  /** The same nodes over TLS, trusting {@code caFile} (null: the JVM's trust store), with an optional client certificate. */
  public RedisClientSettings withTls(Path caFile, Path certFile, Path keyFile, boolean verifyHostname) {
    return new RedisClientSettings(mode, urls, masterName, user, password, caFile, certFile, keyFile, verifyHostname);
  }

  /** Whether connections use TLS. */
  public boolean tls() {
    return caFile != null || certFile != null || urls.stream().anyMatch(u -> u.startsWith("rediss://"));
  }

  /** The Vert.x client options: the limiter's link and the auxiliary client both start from these. */
  public RedisOptions toOptions() {
    RedisOptions options = new RedisOptions()
        .setType(switch (mode) {
          case STANDALONE -> RedisClientType.STANDALONE;
          case CLUSTER -> RedisClientType.CLUSTER;
          case SENTINEL -> RedisClientType.SENTINEL;
        })
        .setEndpoints(urls.stream().map(u -> tls() && u.startsWith("redis://") ? "rediss://" + u.substring(8) : u)
            .toList());
    if (mode == Mode.SENTINEL) {
      options.setMasterName(masterName).setRole(RedisRole.MASTER);
    }
    if (user != null) {
      options.setUser(user);
    }
    if (password != null) {
      options.setPassword(password);
    }
    if (tls()) {
      NetClientOptions net = new NetClientOptions().setSsl(true)
          .setHostnameVerificationAlgorithm(verifyHostname ? "HTTPS" : "");
      if (caFile != null) {
        net.setTrustOptions(new PemTrustOptions().addCertPath(caFile.toString()));
      }
      if (certFile != null) {
        net.setKeyCertOptions(new PemKeyCertOptions().setCertPath(certFile.toString()).setKeyPath(keyFile.toString()));
      }
      options.setNetClientOptions(net);
    }
    return options;
  }

  /** Mode and nodes, without credentials. */
  @Override
  public String toString() {
    return mode.name().toLowerCase(java.util.Locale.ROOT) + " " + urls.stream().map(RedisClientSettings::redact).toList()
        + (masterName == null ? "" : " master " + masterName) + (user == null ? "" : " as " + user)
        + (tls() ? " (TLS" + (caFile == null ? "" : ", CA " + caFile) + (certFile == null ? "" : ", client certificate")
            + (verifyHostname ? "" : ", host name not checked") + ")" : "");
  }

  private static String redact(String url) {
    return url.replaceAll("//[^@/]*@", "//");
  }
}
