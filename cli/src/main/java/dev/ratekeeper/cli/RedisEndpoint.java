package dev.ratekeeper.cli;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Where Redis is and how to log in, read the same way by every program:
 * {@code redis://[user[:password]@]host[:port][/db]}, or {@code rediss://...} for TLS. A password
 * given apart ({@link #PASSWORD}) wins over one in the URL. Checked once here; nothing this class
 * says ({@link #toString()}, {@link #address()}, {@link #redactedUrl()}, its exceptions' messages)
 * ever holds a password.
 *
 * <p>The Redis settings of the programs are the {@link #SETTINGS} here, read by {@link #read}.
 * More Redis options (a TLS CA file, a client certificate and key, an ACL user, cluster or sentinel
 * mode) are added in this one place: a {@link Setting} constant added to {@link #SETTINGS}, a field,
 * and a line in {@link #read}; every program that registers {@link #SETTINGS} then has the flag.
 */
public final class RedisEndpoint {
  public static final int DEFAULT_PORT = 6379;

  public static final Setting URL = Setting.value("--redis", "RATEKEEPER_REDIS_URL", "URL",
      "redis://[user:pass@]host:port[/db], rediss:// for TLS");
  public static final Setting PASSWORD = Setting.value("--redis-password", "RATEKEEPER_REDIS_PASSWORD", "SECRET",
      "Redis password; wins over one in the URL");
  /** Every Redis setting, for a program to register. */
  public static final List<Setting> SETTINGS = List.of(URL, PASSWORD);

  private static final String EXPECTED = "expected redis://host:port or rediss://host:port";

  private final String url;
  private final String host;
  private final int port;
  private final boolean tls;
  private final String user;
  private final String password;
  private final boolean passwordInUrl;
  private final int database;

  private RedisEndpoint(String url, String host, int port, boolean tls, String user, String password,
      boolean passwordInUrl, int database) {
    this.url = url;
    this.host = host;
    this.port = port;
    this.tls = tls;
    this.user = user;
    this.password = password;
    this.passwordInUrl = passwordInUrl;
    this.database = database;
  }

  /**
   * The Redis settings of {@code in}; {@code defaultUrl} when the URL is not set, and null when that
   * is null too (the program runs without Redis). A bad URL is recorded as a problem (redacted) and
   * null returned.
   */
  public static RedisEndpoint read(Inputs in, String defaultUrl) {
    String url = in.text(URL, defaultUrl);
    if (url == null) {
      return null;
    }
    try {
      return parse(url, in.text(PASSWORD));
    } catch (IllegalArgumentException e) {
      in.problem(URL, e.getMessage());
      return null;
    }
  }

  /**
   * Parses a Redis URL; {@code password}, when not null or blank, wins over one in the URL.
   *
   * @throws IllegalArgumentException saying what is wrong, with the URL redacted
   */
  public static RedisEndpoint parse(String url, String password) {
    String text = url.strip();
    // A value that is not a well-formed URL is never quoted back: a password with a '/', '?' or '#'
    // in it moves the URL's parts around, so no part of it can be trusted to hold no secret.
    URI uri;
    try {
      uri = new URI(text);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException(EXPECTED + "; the value given is not one (not shown)");
    }
    String scheme = uri.getScheme();
    if (!"redis".equals(scheme) && !"rediss".equals(scheme) || uri.getHost() == null) {
      throw new IllegalArgumentException(EXPECTED + "; the value given is not one (not shown)");
    }
    if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
      // some clients read ?password= or ?user=: refused rather than missed by the redaction
      throw new IllegalArgumentException("a Redis URL takes no query string or fragment (not shown); give the "
          + "password with " + PASSWORD.flag() + " and the database as the path");
    }
    if (uri.getRawUserInfo() == null && text.indexOf('@') >= 0) {
      // an '@' outside the user information: a password holding a '/' that escaped it
      throw new IllegalArgumentException(EXPECTED + "; the value given is not one (not shown): percent-encode a "
          + "'/' in a password, or give it with " + PASSWORD.flag());
    }
    if (uri.getPort() > 65535) {
      throw new IllegalArgumentException("the port of a Redis URL is at most 65535, got " + uri.getPort());
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
      String digits = path.substring(1);
      if (digits.length() > 5 || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
        throw new IllegalArgumentException("the path of a Redis URL is a database number (not shown)");
      }
      database = Integer.parseInt(digits);
    }
    boolean apart = password != null && !password.isBlank();
    return new RedisEndpoint(text, uri.getHost(), uri.getPort() < 0 ? DEFAULT_PORT : uri.getPort(),
        "rediss".equals(scheme), user, apart ? password : urlPassword, urlPassword != null, database);
  }

  /**
   * {@code text} with everything between {@code //} and its last {@code @} replaced by {@code ***}
   * (a password may hold any character but an unencoded {@code @} is never part of a host or path);
   * for any text that may be a URL with a password in it.
   */
  public static String redact(String text) {
    if (text == null) {
      return null;
    }
    int at = text.lastIndexOf('@');
    if (at < 0) {
      return text;
    }
    int scheme = text.indexOf("//");
    if (scheme < 0 || scheme > at) {
      return "***";
    }
    return text.substring(0, scheme + 2) + "***@" + text.substring(at + 1);
  }

  /** The URL as given, credentials and all: only for a client that takes a connection string. */
  public String url() {
    return url;
  }

  /** The URL as given with its credentials replaced by {@code ***}, for logs. */
  public String redactedUrl() {
    return redact(url);
  }

  /** {@code redis[s]://host:port[/db]}: no credentials, for logs and messages. */
  public String address() {
    return (tls ? "rediss://" : "redis://") + host + ":" + port + (database == 0 ? "" : "/" + database);
  }

  public String host() {
    return host;
  }

  public int port() {
    return port;
  }

  public boolean tls() {
    return tls;
  }

  /** The ACL user from the URL, or null. */
  public String user() {
    return user;
  }

  /** The password to log in with: the one given apart, else the URL's; null for none. */
  public String password() {
    return password;
  }

  /** Whether the URL itself holds a password (it should not where the URL is written into pod specs). */
  public boolean passwordInUrl() {
    return passwordInUrl;
  }

  public int database() {
    return database;
  }

  /** Whether the host is this machine's loopback (for a pod: the pod itself). */
  public boolean loopback() {
    return host.equals("localhost") || host.startsWith("127.") || host.equals("[::1]") || host.equals("::1");
  }

  @Override
  public String toString() {
    return address() + (password == null ? "" : " (with password)");
  }

  private static String decode(String part) {
    return URLDecoder.decode(part, StandardCharsets.UTF_8);
  }
}
