package dev.ratekeeper.operator;

import dev.ratekeeper.cli.Command;
import dev.ratekeeper.cli.ConfigException;
import dev.ratekeeper.cli.HostPort;
import dev.ratekeeper.cli.Inputs;
import dev.ratekeeper.cli.RedisEndpoint;
import dev.ratekeeper.cli.Setting;
import dev.ratekeeper.operator.store.RedisSettings;
import dev.ratekeeper.operator.query.QueryConfig;
import dev.ratekeeper.operator.webhook.WebhookConfig;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The operator's command line, read by the shared {@link Command}: every flag also reads from its
 * environment variable and a flag wins over its variable; values follow the rules of {@link Inputs}.
 * Parsing collects every problem so a bad start names them all at once.
 */
public record OperatorConfig(
    RedisSettings redis,
    Set<String> namespaces,
    InetSocketAddress adminListen,
    Duration refreshInterval,
    Duration sidecarLiveness,
    Duration revisionRetention,
    Duration cleanupTimeout,
    boolean leaderElection,
    String leaseName,
    String leaseNamespace,
    String identity,
    boolean serverSideApply,
    String secretSelector,
    String tenantRedisSecret,
    boolean help) {

  public static final String DEFAULT_REDIS = "redis://127.0.0.1:6379";
  public static final String DEFAULT_ADMIN = "0.0.0.0:9788";
  public static final Duration DEFAULT_RETENTION = Duration.ofDays(7);
  public static final String DEFAULT_LEASE = "ratekeeper-operator";
  /** Longest --secret-selector accepted; a label selector is a few requirements, not a document. */
  public static final int MAX_SELECTOR_LENGTH = 1024;

  static final Setting REDIS = RedisEndpoint.URL.describedAs(
      "redis://[user:pass@]host:port[/db], rediss:// for TLS, default " + DEFAULT_REDIS);
  static final Setting NAMESPACES = Setting.value("--namespaces", "RATEKEEPER_NAMESPACES", "NS,NS",
      "namespaces to watch, comma-separated; empty = all");
  static final Setting ADMIN_LISTEN = Setting.value("--admin-listen", "RATEKEEPER_ADMIN_LISTEN", "HOST:PORT",
      "/metrics /healthz /readyz, default " + DEFAULT_ADMIN);
  static final Setting REFRESH_INTERVAL = Setting.value("--refresh-interval", "RATEKEEPER_REFRESH_INTERVAL", "DUR",
      "status refresh per policy, default 10s");
  static final Setting SIDECAR_LIVENESS = Setting.value("--sidecar-liveness", "RATEKEEPER_SIDECAR_LIVENESS", "DUR",
      "heartbeat age for a live sidecar, default 15s");
  static final Setting REVISION_RETENTION = Setting.value("--revision-retention", "RATEKEEPER_REVISION_RETENTION",
      "DUR", "how long replaced revisions stay in Redis, default 168h");
  static final Setting CLEANUP_TIMEOUT = Setting.value("--cleanup-timeout", "RATEKEEPER_CLEANUP_TIMEOUT", "DUR",
      "after a policy's deletion, how long the finalizer waits for Redis before it lets the policy go anyway,"
          + " default 2m");
  static final Setting LEADER_ELECTION = Setting.flagSwitch("--leader-election", "RATEKEEPER_LEADER_ELECTION",
      "elect a leader through a Lease, default false");
  static final Setting LEASE_NAME = Setting.value("--lease-name", "RATEKEEPER_LEASE_NAME", "NAME",
      "default " + DEFAULT_LEASE);
  static final Setting LEASE_NAMESPACE = Setting.value("--lease-namespace", "RATEKEEPER_LEASE_NAMESPACE", "NS",
      "default $POD_NAMESPACE, else the client's namespace");
  static final Setting SERVER_SIDE_APPLY = Setting.flagSwitch("--server-side-apply", "RATEKEEPER_SERVER_SIDE_APPLY",
      "write status and finalizers with server-side apply, default true; false only for API servers without it");
  static final Setting SECRET_SELECTOR = Setting.value("--secret-selector", "RATEKEEPER_SECRET_SELECTOR", "SELECTOR",
      "watch only the Secrets this label selector matches, such as ratekeeper.dev/secret=true; a Secret a policy"
          + " references must then carry the label; default every Secret");
  static final Setting TENANT_REDIS_SECRET = Setting.value("--tenant-redis-secret", "RATEKEEPER_TENANT_REDIS_SECRET",
      "NAME", "per-namespace Redis users: the Secret (keys user, password) kept in each namespace with a policy,"
          + " whose ACL user reaches only that namespace's keys; default off (one shared login)");
  static final String POD_NAMESPACE = "POD_NAMESPACE";
  static final String POD_NAME = "POD_NAME";
  static final String HOSTNAME = "HOSTNAME";

  /** The operator's command line. */
  public static final Command COMMAND = Command.named("ratekeeper-operator", "java -jar ratekeeper-operator.jar")
      .add(REDIS, RedisEndpoint.PASSWORD, RedisEndpoint.MODE, RedisEndpoint.MASTER_NAME, RedisEndpoint.USER,
          RedisEndpoint.CA_FILE, RedisEndpoint.CERT_FILE, RedisEndpoint.KEY_FILE, RedisEndpoint.VERIFY_HOSTNAME,
          TENANT_REDIS_SECRET, NAMESPACES, ADMIN_LISTEN, REFRESH_INTERVAL, SIDECAR_LIVENESS,
          REVISION_RETENTION, CLEANUP_TIMEOUT, LEADER_ELECTION, LEASE_NAME, LEASE_NAMESPACE, SERVER_SIDE_APPLY,
          SECRET_SELECTOR)
      .footer("The Kubernetes connection comes from the in-cluster service account or ~/.kube/config.",
          "Durations: 500ms, 10s, 2m, 168h (more than zero). Booleans: true or false (also yes/no, 1/0).");

  private static final Pattern NAMESPACE = Pattern.compile("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
  private static final Pattern DNS_NAME = Pattern.compile(
      "^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$");
  // what a label selector is written with: keys (prefix/name), values, = == != ! , and in/notin ( )
  private static final Pattern SELECTOR = Pattern.compile("^[A-Za-z0-9._/=!,() -]+$");
  private static final Pattern SELECTOR_WORD = Pattern.compile("[A-Za-z0-9]");

  /** Parses flags, falling back to {@code env} for each one. */
  public static OperatorConfig parse(String[] args, Map<String, String> env) throws ConfigException {
    Inputs in = COMMAND.read(args, env);
    RedisEndpoint endpoint = RedisEndpoint.read(in, DEFAULT_REDIS);
    Set<String> namespaces = new LinkedHashSet<>();
    for (String ns : in.list(NAMESPACES)) {
      if (!NAMESPACE.matcher(ns).matches() || ns.length() > 63) {
        in.problem(NAMESPACES, "\"" + ns + "\" is not a namespace name");
      }
      namespaces.add(ns);
    }
    HostPort admin = in.hostPort(ADMIN_LISTEN, DEFAULT_ADMIN);
    Duration refresh = in.duration(REFRESH_INTERVAL, OperatorSettings.DEFAULT_REFRESH);
    Duration liveness = in.duration(SIDECAR_LIVENESS, OperatorSettings.DEFAULT_LIVENESS);
    Duration retention = in.duration(REVISION_RETENTION, DEFAULT_RETENTION);
    Duration cleanupTimeout = in.duration(CLEANUP_TIMEOUT, OperatorSettings.DEFAULT_CLEANUP_TIMEOUT);
    boolean leader = in.bool(LEADER_ELECTION, false);
    String leaseName = in.text(LEASE_NAME, DEFAULT_LEASE);
    String leaseNamespace = in.text(LEASE_NAMESPACE, in.env(POD_NAMESPACE));
    String identity = in.env(POD_NAME) != null ? in.env(POD_NAME) : in.env(HOSTNAME);
    boolean serverSideApply = in.bool(SERVER_SIDE_APPLY, true);
    String secretSelector = selector(in);
    String tenantSecret = in.text(TENANT_REDIS_SECRET);
    if (tenantSecret != null && !DNS_NAME.matcher(tenantSecret).matches()) {
      in.problem(TENANT_REDIS_SECRET, "\"" + tenantSecret + "\" is not a Kubernetes Secret name");
    }

    in.check();
    return new OperatorConfig(RedisSettings.of(endpoint), Set.copyOf(namespaces), admin.toSocketAddress(), refresh,
        liveness, retention, cleanupTimeout, leader, leaseName, leaseNamespace, identity, serverSideApply,
        secretSelector, tenantSecret, in.help());
  }

  /** The help, {@code --help}: the flags, then the webhook's variables. */
  public static String usage() {
    return COMMAND.usage() + "\n" + WebhookConfig.envHelp() + "\n" + QueryConfig.ENV_HELP;
  }

  /** The run settings these flags describe. */
  public OperatorSettings settings() {
    OperatorSettings settings = OperatorSettings.defaults()
        .withNamespaces(namespaces)
        .withRefreshInterval(refreshInterval)
        .withSidecarLiveness(sidecarLiveness)
        .withCleanupTimeout(cleanupTimeout)
        .withServerSideApply(serverSideApply)
        .withSecretSelector(secretSelector)
        .withTenantRedisSecret(tenantRedisSecret);
    return leaderElection
        ? settings.withLeaderElection(new OperatorSettings.LeaderElection(leaseName, leaseNamespace, identity))
        : settings;
  }

  /**
   * A label selector, checked only for its shape (the API server judges the rest): not blank, at
   * most {@link #MAX_SELECTOR_LENGTH} characters, written with what selectors are written with.
   * Absent = null, every Secret.
   */
  private static String selector(Inputs in) {
    String trimmed = in.text(SECRET_SELECTOR);
    if (trimmed == null) {
      return null;
    }
    if (trimmed.isEmpty()) {
      in.problem(SECRET_SELECTOR, "expected a label selector such as ratekeeper.dev/secret=true, got an empty value");
      return null;
    }
    if (trimmed.length() > MAX_SELECTOR_LENGTH) {
      in.problem(SECRET_SELECTOR, "a label selector of at most " + MAX_SELECTOR_LENGTH + " characters, got "
          + trimmed.length());
      return null;
    }
    if (!SELECTOR.matcher(trimmed).matches() || !SELECTOR_WORD.matcher(trimmed).find()) {
      in.problem(SECRET_SELECTOR, "expected a label selector such as ratekeeper.dev/secret=true (letters, digits,"
          + " . _ / - = != ! , in (...)), got \"" + trimmed + "\"");
      return null;
    }
    return trimmed;
  }

  @Override
  public String toString() {
    return "redis=" + redis + " namespaces=" + (namespaces.isEmpty() ? "all" : String.join(",", namespaces))
        + " admin=" + adminListen.getHostString() + ":" + adminListen.getPort()
        + " refresh=" + refreshInterval + " leaderElection=" + leaderElection
        + (serverSideApply ? "" : " serverSideApply=false")
        + (secretSelector == null ? "" : " secretSelector=" + secretSelector)
        + (tenantRedisSecret == null ? "" : " tenantRedisSecret=" + tenantRedisSecret);
  }
}
