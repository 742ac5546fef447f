package dev.ratekeeper.operator.store;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Where Redis is and how to log in. One node ({@code redis://[user:password@]host[:port][/db]}, or
 * {@code rediss://...} for TLS), a Redis Cluster (seed nodes), or a master found through Sentinel
 * (the sentinels and the master's name). TLS is on for {@code rediss://} or when a CA file or client
 * certificate is given: the server's certificate is checked against the CA file (else the JVM's trust
 * store) and, unless {@code verifyHostname} is false, against the host name. A password given apart
 * (flag or environment) wins over one in the URL. {@link #toString()} never shows the password.
 */
public record RedisSettings(Mode mode, List<Node> nodes, String masterName, boolean tls, String user, String password,
    int database, Duration timeout, Path caFile, Path certFile, Path keyFile, boolean verifyHostname) {
  public static final int DEFAULT_PORT = 6379;
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(2);

  /** How the nodes are arranged. */
  public enum Mode { STANDALONE, CLUSTER, SENTINEL }

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
    if (mode == Mode.STANDALONE && nodes.size() > 1) {
      throw new IllegalArgumentException("several Redis URLs are Cluster seeds or sentinels: say which (--redis-mode)");
    }
    if (mode == Mode.SENTINEL && (masterName == null || masterName.isBlank())) {
      throw new IllegalArgumentException("Sentinel needs the master's name");
    }
    if (mode == Mode.CLUSTER && database != 0) {
      throw new IllegalArgumentException("Redis Cluster has database 0 only");
    }
    if ((certFile == null) != (keyFile == null)) {
      throw new IllegalArgumentException("a client certificate needs its key, and a key its certificate");
    }
  }

  /** One node. */
  public static RedisSettings parse(String url, String password) {
    return parse(Mode.STANDALONE, List.of(url), null, password);
  }

  /**
   * {@code urls}: the node (standalone), the seed nodes (cluster) or the sentinels (sentinel); user,
   * password, database and TLS come from the first URL.
   */
  public static RedisSettings parse(Mode mode, List<String> urls, String masterName, String password) {
    if (urls.isEmpty()) {
      throw new IllegalArgumentException("no Redis URL");
    }
    List<Node> nodes = new ArrayList<>();
    URI first = null;
    for (String url : urls) {
      URI uri = uri(url);
      first = first == null ? uri : first;
      nodes.add(new Node(uri.getHost(), uri.getPort() < 0 ? DEFAULT_PORT : uri.getPort()));
    }
    String user = null;
    String urlPassword = null;
    if (first.getRawUserInfo() != null) {
      String info = first.getRawUserInfo();
      int colon = info.indexOf(':');
      String rawUser = colon < 0 ? info : info.substring(0, colon);
      user = rawUser.isEmpty() ? null : decode(rawUser);
      urlPassword = colon < 0 ? null : decode(info.substring(colon + 1));
    }
    int database = 0;
    String path = first.getPath();
    if (path != null && path.length() > 1) {
      try {
        database = Integer.parseInt(path.substring(1));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("the path of a Redis URL is a database number, got \"" + path + "\"");
      }
    }
    String pw = password != null && !password.isEmpty() ? password : urlPassword;
    return new RedisSettings(mode, nodes, masterName, "rediss".equals(first.getScheme()), user, pw, database,
        DEFAULT_TIMEOUT, null, null, null, true);
  }

  private static URI uri(String url) {
    URI uri;
    try {
      uri = new URI(url);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("expected redis://host:port or rediss://host:port, got \"" + redact(url) + "\"");
    }
    String scheme = uri.getScheme();
    if (!"redis".equals(scheme) && !"rediss".equals(scheme) || uri.getHost() == null) {
      throw new IllegalArgumentException("expected redis://host:port or rediss://host:port, got \"" + redact(url) + "\"");
    }
    return uri;
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

  private static String decode(String part) {
    return URLDecoder.decode(part, StandardCharsets.UTF_8);
  }

  private static String redact(String url) {
    return url == null ? null : url.replaceAll("//[^@/]*@", "//***@");
  }
}
