package dev.ratekeeper.operator.store;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * Where Redis is and how to log in: {@code redis://[user:password@]host[:port][/db]}, or
 * {@code rediss://...} for TLS (verified against the JVM's trust store). A password given apart
 * (flag or environment) wins over one in the URL. {@link #toString()} never shows the password.
 */
public record RedisSettings(String host, int port, boolean tls, String user, String password, int database,
    Duration timeout) {
  public static final int DEFAULT_PORT = 6379;
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(2);

  public static RedisSettings parse(String url, String password) {
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
    String user = null;
    String urlPassword = null;
    if (uri.getRawUserInfo() != null) {
      String info = uri.getRawUserInfo();
      int colon = info.indexOf(':');
      String rawUser = colon < 0 ? info : info.substring(0, colon);
      user = rawUser.isEmpty() ? null : decode(rawUser);
      urlPassword = colon < 0 ? null : decode(info.substring(colon + 1));
    }
    int database = 0;
    String path = uri.getPath();
    if (path != null && path.length() > 1) {
      try {
        database = Integer.parseInt(path.substring(1));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("the path of a Redis URL is a database number, got \"" + path + "\"");
      }
    }
    String pw = password != null && !password.isEmpty() ? password : urlPassword;
    return new RedisSettings(uri.getHost(), uri.getPort() < 0 ? DEFAULT_PORT : uri.getPort(), "rediss".equals(scheme),
        user, pw, database, DEFAULT_TIMEOUT);
  }

  public RedisSettings withTimeout(Duration timeout) {
    return new RedisSettings(host, port, tls, user, password, database, timeout);
  }

  /** The URL without credentials, for logs and messages. */
  public String address() {
    return (tls ? "rediss://" : "redis://") + host + ":" + port + (database == 0 ? "" : "/" + database);
  }

  @Override
  public String toString() {
    return address() + (password == null ? "" : " (with password)");
  }

  private static String decode(String part) {
    return URLDecoder.decode(part, StandardCharsets.UTF_8);
  }

  private static String redact(String url) {
    return url == null ? null : url.replaceAll("//[^@/]*@", "//***@");
  }
}
