package dev.ratekeeper.operator.store;

import dev.ratekeeper.cli.RedisEndpoint;
import dev.ratekeeper.cli.RedisEndpoint.Mode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;

/**
 * Where Redis is and how to log in: one node, a Redis Cluster (seed nodes) or a master found through
 * Sentinel (the sentinels and the master's name); an ACL user and password; TLS with an optional CA
 * file, client certificate and host-name check. The rules are {@link RedisEndpoint}'s, the same for
 * every program. {@link #toString()} never shows the password.
 */
public record RedisSettings(Mode mode, List<Node> nodes, String masterName, boolean tls, String user, String password,
    int database, Duration timeout, Path caFile, Path certFile, Path keyFile, boolean verifyHostname) {
  public static final int DEFAULT_PORT = RedisEndpoint.DEFAULT_PORT;
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(2);

  /** One address. */
  public record Node(String host, int port) {
    @Override
    public String toString() {
      return host + ":" + port;
    }
  }

  public RedisSettings {
    nodes = List.copyOf(nodes);
    if (nodes.isEmpty()) {
      throw new IllegalArgumentException("no Redis address");
    }
  }

  /** The settings for a Redis the command line named (parsed and checked by {@link RedisEndpoint}). */
  public static RedisSettings of(RedisEndpoint endpoint) {
    List<Node> nodes = endpoint.nodes().stream().map(n -> {
      int colon = n.lastIndexOf(':');
      return new Node(n.substring(0, colon), Integer.parseInt(n.substring(colon + 1)));
    }).toList();
    return new RedisSettings(endpoint.mode(), nodes, endpoint.masterName(), endpoint.tls(), endpoint.user(),
        endpoint.password(), endpoint.database(), DEFAULT_TIMEOUT, endpoint.caFile(), endpoint.certFile(),
        endpoint.keyFile(), endpoint.verifyHostname());
  }

  /**
   * Parses one Redis URL as the command line does ({@link RedisEndpoint#parse}).
   *
   * @throws IllegalArgumentException saying what is wrong, never with the password
   */
  public static RedisSettings parse(String url, String password) {
    return of(RedisEndpoint.parse(url, password));
  }

  /** Several nodes: the seeds of a Cluster, or the sentinels of {@code masterName}. */
  public static RedisSettings parse(Mode mode, List<String> urls, String masterName, String password) {
    return of(RedisEndpoint.parse(mode, urls, masterName, null, password));
  }

  /** The first node's host (the only one of a standalone Redis). */
  public String host() {
    return nodes.get(0).host();
  }

  public int port() {
    return nodes.get(0).port();
  }

  public RedisSettings withTimeout(Duration timeout) {
    return new RedisSettings(mode, nodes, masterName, tls, user, password, database, timeout, caFile, certFile, keyFile,
        verifyHostname);
  }

  /** Logs in as {@code user} (a Redis 6 ACL user; null: the default user) with {@code password}. */
  public RedisSettings withLogin(String user, String password) {
    return new RedisSettings(mode, nodes, masterName, tls, user, password, database, timeout, caFile, certFile, keyFile,
        verifyHostname);
  }

  /** TLS trusting {@code caFile} (null: the JVM's trust store), with an optional client certificate and key. */
  public RedisSettings withTls(Path caFile, Path certFile, Path keyFile, boolean verifyHostname) {
    return new RedisSettings(mode, nodes, masterName, true, user, password, database, timeout, caFile, certFile, keyFile,
        verifyHostname);
  }

  /** The nodes without credentials, for logs and messages. */
  public String address() {
    String scheme = tls ? "rediss://" : "redis://";
    String where = nodes.size() == 1 ? scheme + nodes.get(0) : nodes.stream().map(n -> scheme + n).toList().toString();
    return (mode == Mode.STANDALONE ? "" : mode.name().toLowerCase(Locale.ROOT) + " ") + where
        + (database == 0 ? "" : "/" + database) + (masterName == null ? "" : " master " + masterName);
  }

  @Override
  public String toString() {
    return address() + (user == null ? "" : " as " + user) + (password == null ? "" : " (with password)")
        + (caFile == null ? "" : " CA " + caFile) + (certFile == null ? "" : " with client certificate")
        + (tls && !verifyHostname ? " host name not checked" : "");
  }
}
