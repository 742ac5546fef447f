package dev.ratekeeper.cli;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/**
 * Where Redis is and how to log in, read the same way by every program:
 * {@code redis://[user[:password]@]host[:port][/db]}, or {@code rediss://...} for TLS. A password
 * given apart ({@link #PASSWORD}) wins over one in the URL, and so does a user ({@link #USER}).
 * Checked once here; nothing this class says ({@link #toString()}, {@link #address()},
 * {@link #redactedUrl()}, its exceptions' messages) ever holds a password.
 *
 * <p>Beyond one node: {@link #MODE} {@code cluster} (the URL is a comma-separated list of seed
 * nodes; the client learns the slots) or {@code sentinel} (the URLs are the sentinels, and
 * {@link #MASTER_NAME} names the master); user, password, database and TLS come from the first URL.
 * TLS is on for {@code rediss://} or when {@link #CA_FILE} or a client certificate is given; the
 * server's certificate is checked against the CA file (else the JVM's trust store) and, unless
 * {@link #VERIFY_HOSTNAME} is false, against the host name in the URL.
 *
 * <p>The Redis settings of the programs are the {@link #SETTINGS} here, read by {@link #read}.
 * More Redis options are added in this one place: a {@link Setting} constant added to
 * {@link #SETTINGS}, a field, and a line in {@link #read}; every program that registers
 * {@link #SETTINGS} then has the flag.
 */
public final class RedisEndpoint {
  public static final int DEFAULT_PORT = 6379;

  /** How the nodes are arranged. */
  public enum Mode { STANDALONE, CLUSTER, SENTINEL }

  public static final Setting URL = Setting.value("--redis", "RATEKEEPER_REDIS_URL", "URL",
      "redis://[user:pass@]host:port[/db], rediss:// for TLS; cluster, sentinel: comma-separated URLs");
  public static final Setting PASSWORD = Setting.value("--redis-password", "RATEKEEPER_REDIS_PASSWORD", "SECRET",
      "Redis password; wins over one in the URL");
  public static final Setting MODE = Setting.value("--redis-mode", "RATEKEEPER_REDIS_MODE", "MODE",
      "standalone (default), cluster (the URLs are seed nodes) or sentinel (the URLs are sentinels)");
  public static final Setting MASTER_NAME = Setting.value("--redis-master-name", "RATEKEEPER_REDIS_MASTER_NAME",
      "NAME", "sentinel: the name the sentinels know the master by");
  public static final Setting USER = Setting.value("--redis-user", "RATEKEEPER_REDIS_USER", "USER",
      "Redis 6 ACL user; wins over one in the URL; default: the default user");
  public static final Setting CA_FILE = Setting.value("--redis-ca-file", "RATEKEEPER_REDIS_CA_FILE", "FILE",
      "PEM CA certificate(s) Redis' certificate is checked against (turns TLS on); default: the JVM's trust store");
  public static final Setting CERT_FILE = Setting.value("--redis-cert-file", "RATEKEEPER_REDIS_CERT_FILE", "FILE",
      "PEM client certificate, for a Redis with tls-auth-clients (turns TLS on)");
  public static final Setting KEY_FILE = Setting.value("--redis-key-file", "RATEKEEPER_REDIS_KEY_FILE", "FILE",
      "PEM (PKCS#8) private key of --redis-cert-file");
  public static final Setting VERIFY_HOSTNAME = Setting.value("--redis-verify-hostname",
      "RATEKEEPER_REDIS_VERIFY_HOSTNAME", "BOOL", "check that Redis' certificate names the host in the URL, default true");
  /** Every Redis setting, for a program to register. */
  public static final List<Setting> SETTINGS = List.of(URL, PASSWORD, MODE, MASTER_NAME, USER, CA_FILE, CERT_FILE,
      KEY_FILE, VERIFY_HOSTNAME);

  private static final String EXPECTED = "expected redis://host:port or rediss://host:port";

  private final String url;
  private final String host;
  private final int port;
  private final boolean tls;
  private final String user;
  private final String password;
  private final boolean passwordInUrl;
  private final int database;
  private final Mode mode;
  private final List<String> urls;
  private final String masterName;
  private final Path caFile;
  private final Path certFile;
  private final Path keyFile;
  private final boolean verifyHostname;

  private RedisEndpoint(String url, String host, int port, boolean tls, String user, String password,
      boolean passwordInUrl, int database) {
    this(url, host, port, tls, user, password, passwordInUrl, database, Mode.STANDALONE, List.of(url), null, null,
        null, null, true);
  }

  private RedisEndpoint(String url, String host, int port, boolean tls, String user, String password,
      boolean passwordInUrl, int database, Mode mode, List<String> urls, String masterName, Path caFile,
      Path certFile, Path keyFile, boolean verifyHostname) {
    this.url = url;
    this.host = host;
    this.port = port;
    this.tls = tls;
    this.user = user;
    this.password = password;
    this.passwordInUrl = passwordInUrl;
    this.database = database;
    this.mode = mode;
    this.urls = List.copyOf(urls);
    this.masterName = masterName;
    this.caFile = caFile;
    this.certFile = certFile;
    this.keyFile = keyFile;
    this.verifyHostname = verifyHostname;
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
    Mode mode = in.choice(MODE, Mode.class, Mode.STANDALONE);
    boolean verify = in.bool(VERIFY_HOSTNAME, true);
    String ca = in.text(CA_FILE);
    String cert = in.text(CERT_FILE);
    String key = in.text(KEY_FILE);
    try {
      RedisEndpoint endpoint = parse(mode, List.of(url.split(",")), in.text(MASTER_NAME), in.text(USER),
          in.text(PASSWORD));
      return endpoint.withTls(ca == null ? null : Path.of(ca), cert == null ? null : Path.of(cert),
          key == null ? null : Path.of(key), verify);
    } catch (IllegalArgumentException e) {
      in.problem(URL, e.getMessage());
      return null;
    }
  }

  /**
   * Several nodes: {@code urls} are the node (standalone), the seed nodes (cluster) or the sentinels
   * (sentinel); user, password, database and TLS come from the first; {@code user} and
   * {@code password}, when given, win over the URL's.
   *
   * @throws IllegalArgumentException saying what is wrong, with the URLs redacted
   */
  public static RedisEndpoint parse(Mode mode, List<String> urls, String masterName, String user, String password) {
    List<String> given = urls.stream().map(String::strip).filter(u -> !u.isEmpty()).toList();
    if (given.isEmpty()) {
      throw new IllegalArgumentException(EXPECTED + ", got nothing");
    }
    if (mode == Mode.STANDALONE && given.size() > 1) {
      throw new IllegalArgumentException("several URLs are Cluster seed nodes or sentinels: set --redis-mode");
    }
    if (mode == Mode.SENTINEL && (masterName == null || masterName.isBlank())) {
      throw new IllegalArgumentException("--redis-mode sentinel needs --redis-master-name");
    }
    RedisEndpoint first = parse(given.get(0), password);
    for (String other : given.subList(1, given.size())) {
      parse(other, null);
    }
    if (mode == Mode.CLUSTER && first.database != 0) {
      throw new IllegalArgumentException("Redis Cluster has database 0 only");
    }
    boolean userApart = user != null && !user.isBlank();
    return new RedisEndpoint(first.url, first.host, first.port, first.tls, userApart ? user.strip() : first.user,
        first.password, first.passwordInUrl || given.stream().skip(1).anyMatch(u -> parse(u, null).passwordInUrl),
        first.database, mode, given, mode == Mode.SENTINEL ? masterName.strip() : null, null, null, null, true);
  }

  /** The same nodes over TLS, trusting {@code caFile} (null: the JVM's trust store), with an optional client certificate. */
  public RedisEndpoint withTls(Path caFile, Path certFile, Path keyFile, boolean verifyHostname) {
    if ((certFile == null) != (keyFile == null)) {
      throw new IllegalArgumentException("--redis-cert-file and --redis-key-file go together");
    }
    return new RedisEndpoint(url, host, port, tls || caFile != null || certFile != null, user, password, passwordInUrl,
        database, mode, urls, masterName, caFile, certFile, keyFile, verifyHostname);
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

  public Mode mode() {
    return mode;
  }

  /** Every URL as given (one standalone; seeds or sentinels), credentials and all: only for a client. */
  public List<String> urls() {
    return urls;
  }

  /** {@code host:port} of every URL. */
  public List<String> nodes() {
    return urls.stream().map(u -> parse(u, null)).map(e -> e.host + ":" + e.port).toList();
  }

  /** Sentinel: the master's name; else null. */
  public String masterName() {
    return masterName;
  }

  /** The CA file to check Redis' certificate against, or null (the JVM's trust store). */
  public Path caFile() {
    return caFile;
  }

  /** The client certificate, or null. */
  public Path certFile() {
    return certFile;
  }

  /** The client certificate's key, or null. */
  public Path keyFile() {
    return keyFile;
  }

  /** Whether Redis' certificate must name the host in the URL (TLS only). */
  public boolean verifyHostname() {
    return verifyHostname;
  }

  /** Whether the host is this machine's loopback (for a pod: the pod itself). */
  public boolean loopback() {
    return host.equals("localhost") || host.startsWith("127.") || host.equals("[::1]") || host.equals("::1");
  }

  @Override
  public String toString() {
    String scheme = tls ? "rediss://" : "redis://";
    String where = mode == Mode.STANDALONE ? address()
        : mode.name().toLowerCase(java.util.Locale.ROOT) + " " + nodes().stream().map(n -> scheme + n).toList()
            + (masterName == null ? "" : " master " + masterName);
    return where + (user == null ? "" : " as " + user) + (password == null ? "" : " (with password)")
        + (caFile == null ? "" : " CA " + caFile) + (certFile == null ? "" : " with client certificate")
        + (tls && !verifyHostname ? " host name not checked" : "");
  }

  private static String decode(String part) {
    return URLDecoder.decode(part, StandardCharsets.UTF_8);
  }
}
