package dev.ratekeeper.operator;

import dev.ratekeeper.operator.store.RedisSettings;
import dev.ratekeeper.policy.api.Durations;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The operator's command line. Every flag also reads from an environment variable; a flag wins
 * over its variable. Parsing collects every problem so a bad start names them all at once.
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
    boolean help) {

  public static final String DEFAULT_REDIS = "redis://127.0.0.1:6379";
  public static final String DEFAULT_ADMIN = "0.0.0.0:9788";
  public static final Duration DEFAULT_RETENTION = Duration.ofDays(7);
  public static final String DEFAULT_LEASE = "ratekeeper-operator";
  /** Longest --secret-selector accepted; a label selector is a few requirements, not a document. */
  public static final int MAX_SELECTOR_LENGTH = 1024;

  public static final String USAGE = """
      Usage: java -jar ratekeeper-operator.jar [flags]
        --redis URL                redis://[user:pass@]host:port[/db], rediss:// for TLS,
                                   default redis://127.0.0.1:6379      (RATEKEEPER_REDIS_URL)
        --redis-password SECRET                                        (RATEKEEPER_REDIS_PASSWORD)
        --namespaces NS,NS         namespaces to watch; empty = all    (RATEKEEPER_NAMESPACES)
        --admin-listen HOST:PORT   /metrics /healthz /readyz, default 0.0.0.0:9788 (RATEKEEPER_ADMIN_LISTEN)
        --refresh-interval DUR     status refresh per policy, default 10s (RATEKEEPER_REFRESH_INTERVAL)
        --sidecar-liveness DUR     heartbeat age for a live sidecar, default 15s (RATEKEEPER_SIDECAR_LIVENESS)
        --revision-retention DUR   how long replaced revisions stay in Redis, default 168h
                                                                       (RATEKEEPER_REVISION_RETENTION)
        --cleanup-timeout DUR      after a policy's deletion, how long the finalizer waits for Redis
                                   before it lets the policy go anyway, default 2m (RATEKEEPER_CLEANUP_TIMEOUT)
        --leader-election[=BOOL]   elect a leader through a Lease, default false (RATEKEEPER_LEADER_ELECTION)
        --lease-name NAME          default ratekeeper-operator         (RATEKEEPER_LEASE_NAME)
        --lease-namespace NS       default $POD_NAMESPACE, else the client's namespace (RATEKEEPER_LEASE_NAMESPACE)
        --server-side-apply[=BOOL] write status and finalizers with server-side apply, default true;
                                   false only for API servers without it (RATEKEEPER_SERVER_SIDE_APPLY)
        --secret-selector SELECTOR watch only the Secrets this label selector matches, such as
                                   ratekeeper.dev/secret=true; a Secret a policy references must then
                                   carry the label; default every Secret (RATEKEEPER_SECRET_SELECTOR)
        --help
      The Kubernetes connection comes from the in-cluster service account or ~/.kube/config.
      """;

  private static final Map<String, String> FLAG_ENV = new LinkedHashMap<>();
  private static final Set<String> BOOLEAN_FLAGS = Set.of("--leader-election", "--server-side-apply", "--help");
  private static final Pattern NAMESPACE = Pattern.compile("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
  // what a label selector is written with: keys (prefix/name), values, = == != ! , and in/notin ( )
  private static final Pattern SELECTOR = Pattern.compile("^[A-Za-z0-9._/=!,() -]+$");
  private static final Pattern SELECTOR_WORD = Pattern.compile("[A-Za-z0-9]");

  static {
    FLAG_ENV.put("--redis", "RATEKEEPER_REDIS_URL");
    FLAG_ENV.put("--redis-password", "RATEKEEPER_REDIS_PASSWORD");
    FLAG_ENV.put("--namespaces", "RATEKEEPER_NAMESPACES");
    FLAG_ENV.put("--admin-listen", "RATEKEEPER_ADMIN_LISTEN");
    FLAG_ENV.put("--refresh-interval", "RATEKEEPER_REFRESH_INTERVAL");
    FLAG_ENV.put("--sidecar-liveness", "RATEKEEPER_SIDECAR_LIVENESS");
    FLAG_ENV.put("--revision-retention", "RATEKEEPER_REVISION_RETENTION");
    FLAG_ENV.put("--cleanup-timeout", "RATEKEEPER_CLEANUP_TIMEOUT");
    FLAG_ENV.put("--leader-election", "RATEKEEPER_LEADER_ELECTION");
    FLAG_ENV.put("--lease-name", "RATEKEEPER_LEASE_NAME");
    FLAG_ENV.put("--lease-namespace", "RATEKEEPER_LEASE_NAMESPACE");
    FLAG_ENV.put("--server-side-apply", "RATEKEEPER_SERVER_SIDE_APPLY");
    FLAG_ENV.put("--secret-selector", "RATEKEEPER_SECRET_SELECTOR");
    FLAG_ENV.put("--help", "");
  }

  /** Parsing failed; {@link #problems()} lists every one. */
  public static final class ConfigException extends Exception {
    private final List<String> problems;

    public ConfigException(List<String> problems) {
      super(String.join("; ", problems));
      this.problems = List.copyOf(problems);
    }

    public List<String> problems() {
      return problems;
    }
  }

  /** Parses flags, falling back to {@code env} for each one. */
  public static OperatorConfig parse(String[] args, Map<String, String> env) throws ConfigException {
    List<String> problems = new ArrayList<>();
    Map<String, String> values = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      String flag = arg;
      String value = null;
      int eq = arg.indexOf('=');
      if (arg.startsWith("--") && eq > 0) {
        flag = arg.substring(0, eq);
        value = arg.substring(eq + 1);
      }
      if (flag.equals("-h")) {
        flag = "--help";
      }
      if (!FLAG_ENV.containsKey(flag)) {
        problems.add("unknown flag " + flag);
        continue;
      }
      if (value == null) {
        if (BOOLEAN_FLAGS.contains(flag)) {
          value = "true";
        } else if (i + 1 >= args.length) {
          problems.add(flag + ": needs a value");
          continue;
        } else {
          value = args[++i];
        }
      }
      if (values.put(flag, value) != null) {
        problems.add(flag + ": given more than once");
      }
    }
    java.util.function.Function<String, String> get = flag -> {
      if (values.containsKey(flag)) {
        return values.get(flag);
      }
      String fromEnv = FLAG_ENV.get(flag).isEmpty() ? null : env.get(FLAG_ENV.get(flag));
      return fromEnv == null || fromEnv.isBlank() ? null : fromEnv.trim();
    };

    boolean help = bool("--help", get.apply("--help"), problems);
    RedisSettings redis = null;
    try {
      redis = RedisSettings.parse(or(get.apply("--redis"), DEFAULT_REDIS), get.apply("--redis-password"));
    } catch (IllegalArgumentException e) {
      problems.add("--redis: " + e.getMessage());
    }
    Set<String> namespaces = new LinkedHashSet<>();
    String nsList = get.apply("--namespaces");
    if (nsList != null) {
      for (String ns : Arrays.stream(nsList.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList()) {
        if (!NAMESPACE.matcher(ns).matches() || ns.length() > 63) {
          problems.add("--namespaces: \"" + ns + "\" is not a namespace name");
        }
        namespaces.add(ns);
      }
    }
    InetSocketAddress admin = hostPort("--admin-listen", or(get.apply("--admin-listen"), DEFAULT_ADMIN), problems);
    Duration refresh = duration("--refresh-interval", get.apply("--refresh-interval"),
        OperatorSettings.DEFAULT_REFRESH, problems);
    Duration liveness = duration("--sidecar-liveness", get.apply("--sidecar-liveness"),
        OperatorSettings.DEFAULT_LIVENESS, problems);
    Duration retention = duration("--revision-retention", get.apply("--revision-retention"), DEFAULT_RETENTION,
        problems);
    Duration cleanupTimeout = duration("--cleanup-timeout", get.apply("--cleanup-timeout"),
        OperatorSettings.DEFAULT_CLEANUP_TIMEOUT, problems);
    boolean leader = bool("--leader-election", get.apply("--leader-election"), problems);
    String leaseName = or(get.apply("--lease-name"), DEFAULT_LEASE);
    String leaseNamespace = or(get.apply("--lease-namespace"), blankToNull(env.get("POD_NAMESPACE")));
    String identity = or(blankToNull(env.get("POD_NAME")), blankToNull(env.get("HOSTNAME")));
    String ssa = get.apply("--server-side-apply");
    boolean serverSideApply = ssa == null || bool("--server-side-apply", ssa, problems);
    String secretSelector = selector("--secret-selector", get.apply("--secret-selector"), problems);

    if (!problems.isEmpty()) {
      throw new ConfigException(problems);
    }
    return new OperatorConfig(redis, Set.copyOf(namespaces), admin, refresh, liveness, retention, cleanupTimeout,
        leader, leaseName, leaseNamespace, identity, serverSideApply, secretSelector, help);
  }

  /** The run settings these flags describe. */
  public OperatorSettings settings() {
    OperatorSettings settings = OperatorSettings.defaults()
        .withNamespaces(namespaces)
        .withRefreshInterval(refreshInterval)
        .withSidecarLiveness(sidecarLiveness)
        .withCleanupTimeout(cleanupTimeout)
        .withServerSideApply(serverSideApply)
        .withSecretSelector(secretSelector);
    return leaderElection
        ? settings.withLeaderElection(new OperatorSettings.LeaderElection(leaseName, leaseNamespace, identity))
        : settings;
  }

  private static InetSocketAddress hostPort(String flag, String text, List<String> problems) {
    int colon = text.lastIndexOf(':');
    try {
      int port = Integer.parseInt(text.substring(colon + 1));
      if (colon <= 0 || port < 0 || port > 65535) {
        throw new NumberFormatException();
      }
      return new InetSocketAddress(text.substring(0, colon), port);
    } catch (RuntimeException e) {
      problems.add(flag + ": expected HOST:PORT, got \"" + text + "\"");
      return null;
    }
  }

  private static Duration duration(String flag, String text, Duration fallback, List<String> problems) {
    if (text == null) {
      return fallback;
    }
    var millis = Durations.parseMillis(text);
    if (millis.isEmpty() || millis.get() <= 0) {
      problems.add(flag + ": expected a positive duration such as 500ms, 10s, 2m or 168h, got \"" + text + "\"");
      return fallback;
    }
    return Duration.ofMillis(millis.get());
  }

  /**
   * A label selector, checked only for its shape (the API server judges the rest): not blank, at
   * most {@link #MAX_SELECTOR_LENGTH} characters, written with what selectors are written with.
   * Absent = null, every Secret.
   */
  private static String selector(String flag, String text, List<String> problems) {
    if (text == null) {
      return null;
    }
    String trimmed = text.trim();
    if (trimmed.isEmpty()) {
      problems.add(flag + ": expected a label selector such as ratekeeper.dev/secret=true, got an empty value");
      return null;
    }
    if (trimmed.length() > MAX_SELECTOR_LENGTH) {
      problems.add(flag + ": a label selector of at most " + MAX_SELECTOR_LENGTH + " characters, got "
          + trimmed.length());
      return null;
    }
    if (!SELECTOR.matcher(trimmed).matches() || !SELECTOR_WORD.matcher(trimmed).find()) {
      problems.add(flag + ": expected a label selector such as ratekeeper.dev/secret=true (letters, digits,"
          + " . _ / - = != ! , in (...)), got \"" + trimmed + "\"");
      return null;
    }
    return trimmed;
  }

  private static boolean bool(String flag, String text, List<String> problems) {
    if (text == null) {
      return false;
    }
    return switch (text.toLowerCase(Locale.ROOT)) {
      case "true", "1", "yes" -> true;
      case "false", "0", "no" -> false;
      default -> {
        problems.add(flag + ": expected true or false, got \"" + text + "\"");
        yield false;
      }
    };
  }

  private static String or(String value, String fallback) {
    return value != null ? value : fallback;
  }

  private static String blankToNull(String value) {
    return value == null || value.isBlank() ? null : value.trim();
  }

  @Override
  public String toString() {
    return "redis=" + redis + " namespaces=" + (namespaces.isEmpty() ? "all" : String.join(",", namespaces))
        + " admin=" + adminListen.getHostString() + ":" + adminListen.getPort()
        + " refresh=" + refreshInterval + " leaderElection=" + leaderElection
        + (serverSideApply ? "" : " serverSideApply=false")
        + (secretSelector == null ? "" : " secretSelector=" + secretSelector);
  }
}
