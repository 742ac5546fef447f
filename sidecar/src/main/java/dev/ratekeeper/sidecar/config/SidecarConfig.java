package dev.ratekeeper.sidecar.config;

import dev.ratekeeper.policy.api.Durations;
import dev.ratekeeper.policy.compile.PolicyId;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The sidecar's command line. Every flag also reads from an environment variable; a flag wins over
 * its variable. Parsing collects every problem so a bad start names them all at once.
 */
public record SidecarConfig(
    Path policyFile,
    PolicyId policy,
    String redisUrl,
    String redisPassword,
    HostPort listen,
    HostPort adminListen,
    Map<String, String> upstreamOverrides,
    long maxBodyBytes,
    Path apiKeysFile,
    String sidecarId,
    long connectTimeoutMs,
    long upstreamTimeoutMs,
    Map<String, String> upstreamKeys,
    long maxInflightBodyBytes,
    long idleTimeoutMs,
    long bodyTimeoutMs) {

  /** The largest default {@code --max-body}: Anthropic's own limit is 32 MB. */
  public static final long DEFAULT_MAX_BODY = 32L * 1024 * 1024;
  /** The smallest default {@code --max-body}, whatever the heap. */
  static final long MIN_DEFAULT_MAX_BODY = 1024L * 1024;
  /**
   * A parsed body costs several times its size on the heap (bytes, tree, strings), so by default one
   * body may take at most an eighth of the heap ({@code --max-body}), and all bodies held at once a
   * quarter ({@code --max-inflight-body}).
   */
  static final int HEAP_PER_BODY = 8;
  static final int HEAP_PER_INFLIGHT = 4;
  public static final String UPSTREAM_KEY_PREFIX = "RATEKEEPER_UPSTREAM_KEY_";

  public static final String USAGE = """
      Usage: java -jar ratekeeper-sidecar.jar [flags]
        --policy-file FILE       a RateLimitPolicy YAML file            (RATEKEEPER_POLICY_FILE)
        --policy NS/NAME         a policy compiled into Redis           (RATEKEEPER_POLICY)
        --redis URL              redis://host:port or rediss://...      (RATEKEEPER_REDIS_URL)
                                 absent: in-process store, limits hold for this process only
        --redis-password SECRET                                         (RATEKEEPER_REDIS_PASSWORD)
        --listen HOST:PORT       proxy, default 127.0.0.1:8787          (RATEKEEPER_LISTEN)
        --admin-listen HOST:PORT /metrics /healthz /readyz, default 127.0.0.1:9787 (RATEKEEPER_ADMIN_LISTEN)
        --upstream NAME=URL      repeatable; overrides the policy's URL (RATEKEEPER_UPSTREAMS, comma-separated)
        --max-body SIZE          request-body cap, default heap/8 (at least 1MiB, at most 32MiB) (RATEKEEPER_MAX_BODY)
        --max-inflight-body SIZE request bodies held at once, default heap/4 (at least --max-body) (RATEKEEPER_MAX_INFLIGHT_BODY)
        --idle-timeout DUR       a proxy connection with no bytes either way, default --upstream-timeout + 30s (RATEKEEPER_IDLE_TIMEOUT)
        --body-timeout DUR       a metered call's whole body, default 60s (RATEKEEPER_BODY_TIMEOUT)
        --api-keys-file FILE     end-user keys, lines <user-id>: <key>  (RATEKEEPER_API_KEYS_FILE)
        --sidecar-id ID          default: $POD_NAME or a random id      (RATEKEEPER_SIDECAR_ID)
        --connect-timeout DUR    upstream connect timeout, default 10s  (RATEKEEPER_CONNECT_TIMEOUT)
        --upstream-timeout DUR   upstream response timeout, default 600s (RATEKEEPER_UPSTREAM_TIMEOUT)
      Provider keys: RATEKEEPER_UPSTREAM_KEY_<NAME> (e.g. RATEKEEPER_UPSTREAM_KEY_ANTHROPIC).
      """;

  private static final Map<String, String> FLAG_ENV = new LinkedHashMap<>();

  static {
    FLAG_ENV.put("--policy-file", "RATEKEEPER_POLICY_FILE");
    FLAG_ENV.put("--policy", "RATEKEEPER_POLICY");
    FLAG_ENV.put("--redis", "RATEKEEPER_REDIS_URL");
    FLAG_ENV.put("--redis-password", "RATEKEEPER_REDIS_PASSWORD");
    FLAG_ENV.put("--listen", "RATEKEEPER_LISTEN");
    FLAG_ENV.put("--admin-listen", "RATEKEEPER_ADMIN_LISTEN");
    FLAG_ENV.put("--upstream", "RATEKEEPER_UPSTREAMS");
    FLAG_ENV.put("--max-body", "RATEKEEPER_MAX_BODY");
    FLAG_ENV.put("--max-inflight-body", "RATEKEEPER_MAX_INFLIGHT_BODY");
    FLAG_ENV.put("--idle-timeout", "RATEKEEPER_IDLE_TIMEOUT");
    FLAG_ENV.put("--body-timeout", "RATEKEEPER_BODY_TIMEOUT");
    FLAG_ENV.put("--api-keys-file", "RATEKEEPER_API_KEYS_FILE");
    FLAG_ENV.put("--sidecar-id", "RATEKEEPER_SIDECAR_ID");
    FLAG_ENV.put("--connect-timeout", "RATEKEEPER_CONNECT_TIMEOUT");
    FLAG_ENV.put("--upstream-timeout", "RATEKEEPER_UPSTREAM_TIMEOUT");
  }

  private static final Pattern SIZE = Pattern.compile("^([0-9]+)\\s*(B|KB|KiB|MB|MiB|GB|GiB)?$", Pattern.CASE_INSENSITIVE);

  /** A host and port to listen on. */
  public record HostPort(String host, int port) {
    @Override
    public String toString() {
      return host + ":" + port;
    }
  }

  /** Parsing failed; {@link #problems()} lists every one. */
  public static final class ConfigException extends Exception {
    private final List<String> problems;

    public ConfigException(List<String> problems) {
      super(String.join("\n", problems));
      this.problems = List.copyOf(problems);
    }

    public List<String> problems() {
      return problems;
    }
  }

  /** Parses flags, falling back to {@code env} for each one. */
  public static SidecarConfig parse(String[] args, Map<String, String> env) throws ConfigException {
    List<String> problems = new ArrayList<>();
    Map<String, List<String>> values = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      String flag = arg;
      String value = null;
      int eq = arg.indexOf('=');
      if (arg.startsWith("--") && eq > 0) {
        flag = arg.substring(0, eq);
        value = arg.substring(eq + 1);
      }
      if (!FLAG_ENV.containsKey(flag)) {
        problems.add("unknown flag " + flag);
        if (value == null && i + 1 < args.length && !args[i + 1].startsWith("--")) {
          i++; // its value
        }
        continue;
      }
      if (value == null) {
        if (i + 1 >= args.length) {
          problems.add(flag + ": needs a value");
          continue;
        }
        value = args[++i];
      }
      values.computeIfAbsent(flag, k -> new ArrayList<>()).add(value);
    }
    Function<String, String> get = flag -> {
      List<String> v = values.get(flag);
      if (v != null) {
        if (v.size() > 1 && !flag.equals("--upstream")) {
          problems.add(flag + ": given more than once");
        }
        return v.get(v.size() - 1);
      }
      String fromEnv = env.get(FLAG_ENV.get(flag));
      return fromEnv == null || fromEnv.isBlank() ? null : fromEnv;
    };

    String policyFile = get.apply("--policy-file");
    String policyName = get.apply("--policy");
    PolicyId policy = null;
    if (policyFile == null && policyName == null) {
      problems.add("one of --policy-file or --policy is required");
    } else if (policyFile != null && policyName != null) {
      problems.add("--policy-file and --policy exclude each other");
    }
    if (policyName != null) {
      try {
        policy = PolicyId.parse(policyName);
      } catch (IllegalArgumentException e) {
        problems.add("--policy: " + e.getMessage());
      }
    }
    String redis = get.apply("--redis");
    if (redis != null && !(redis.startsWith("redis://") || redis.startsWith("rediss://"))) {
      // never echo the value: a mistyped URL may still hold a password
      problems.add("--redis: expected redis://host:port or rediss://host:port (the value given is not shown:"
          + " it may hold a password)");
    }
    if (policyName != null && redis == null) {
      problems.add("--policy reads the compiled policy from Redis: --redis is required");
    }
    HostPort listen = hostPort("--listen", get.apply("--listen"), "127.0.0.1:8787", problems);
    HostPort admin = hostPort("--admin-listen", get.apply("--admin-listen"), "127.0.0.1:9787", problems);

    Map<String, String> upstreams = new LinkedHashMap<>();
    List<String> upstreamSpecs = values.containsKey("--upstream") ? values.get("--upstream")
        : splitList(env.get("RATEKEEPER_UPSTREAMS"));
    for (String spec : upstreamSpecs) {
      int eq = spec.indexOf('=');
      String name = eq > 0 ? spec.substring(0, eq) : "";
      String url = eq > 0 ? spec.substring(eq + 1) : "";
      if (name.isEmpty() || !isHttpUrl(url)) {
        problems.add("--upstream: expected NAME=http(s)://host[:port], got \"" + spec + "\"");
      } else {
        upstreams.put(name, url.endsWith("/") ? url.substring(0, url.length() - 1) : url);
      }
    }

    long heap = Runtime.getRuntime().maxMemory();
    long maxBody = size("--max-body", get.apply("--max-body"), defaultMaxBody(heap), problems);
    long maxInflight = size("--max-inflight-body", get.apply("--max-inflight-body"),
        Math.max(maxBody, heap / HEAP_PER_INFLIGHT), problems);
    if (maxInflight < maxBody) {
      problems.add("--max-inflight-body: must be at least --max-body (" + maxBody + " bytes)");
    }
    long bodyTimeout = duration("--body-timeout", get.apply("--body-timeout"), 60_000, problems);
    long connectTimeout = duration("--connect-timeout", get.apply("--connect-timeout"), 10_000, problems);
    long upstreamTimeout = duration("--upstream-timeout", get.apply("--upstream-timeout"), 600_000, problems);
    // longer than the upstream timeout, so a slow answer is never cut by the client side going quiet
    long idleTimeout = duration("--idle-timeout", get.apply("--idle-timeout"), upstreamTimeout + 30_000, problems);

    String keysFile = get.apply("--api-keys-file");
    String sidecarId = get.apply("--sidecar-id");
    if (sidecarId == null) {
      String pod = env.get("POD_NAME");
      sidecarId = pod != null && !pod.isBlank() ? pod : "sidecar-" + UUID.randomUUID().toString().substring(0, 8);
    }
    if (!problems.isEmpty()) {
      throw new ConfigException(problems);
    }
    return new SidecarConfig(policyFile == null ? null : Path.of(policyFile), policy, redis,
        get.apply("--redis-password"), listen, admin, upstreams, maxBody,
        keysFile == null ? null : Path.of(keysFile), sidecarId, connectTimeout, upstreamTimeout,
        upstreamKeys(env), maxInflight, idleTimeout, bodyTimeout);
  }

  /** The default {@code --max-body} for a heap of {@code maxHeapBytes}: an eighth of it, from 1 MiB to 32 MiB. */
  public static long defaultMaxBody(long maxHeapBytes) {
    return Math.max(MIN_DEFAULT_MAX_BODY, Math.min(DEFAULT_MAX_BODY, maxHeapBytes / HEAP_PER_BODY));
  }

  private static long size(String flag, String value, long fallback, List<String> problems) {
    if (value == null) {
      return fallback;
    }
    Matcher m = SIZE.matcher(value.trim());
    if (!m.matches() || m.group(1).length() > 12) {
      problems.add(flag + ": expected a size such as 32MiB, 1MB or 65536, got \"" + value + "\"");
      return fallback;
    }
    long bytes = Long.parseLong(m.group(1)) * unit(m.group(2));
    if (bytes < 1) {
      problems.add(flag + ": must be at least 1 byte");
    }
    return bytes;
  }

  /** Provider keys from {@code RATEKEEPER_UPSTREAM_KEY_<NAME>}, keyed by upstream name ({@code _} read as {@code -}). */
  private static Map<String, String> upstreamKeys(Map<String, String> env) {
    Map<String, String> keys = new LinkedHashMap<>();
    env.forEach((name, value) -> {
      if (name.startsWith(UPSTREAM_KEY_PREFIX) && value != null && !value.isBlank()) {
        keys.put(name.substring(UPSTREAM_KEY_PREFIX.length()).toLowerCase(Locale.ROOT).replace('_', '-'), value.trim());
      }
    });
    return keys;
  }

  /** Parses with the process environment. */
  public static SidecarConfig fromProcess(String[] args) throws ConfigException {
    return parse(args, System.getenv());
  }

  /** Where Redis is and how to reach it (null: the in-process store). */
  public dev.ratekeeper.sidecar.store.RedisEndpoint redisEndpoint() {
    return redisUrl == null ? null : dev.ratekeeper.sidecar.store.RedisEndpoint.standalone(redisUrl, redisPassword);
  }

  /** Whether the sidecar runs without Redis (limits for this process only). */
  public boolean inProcessStore() {
    return redisUrl == null;
  }

  @Override
  public String toString() {
    // never print secrets
    return "SidecarConfig[policy=" + (policy != null ? policy : policyFile) + ", redis="
        + (redisUrl == null ? "in-process" : redactUrl(redisUrl)) + ", listen=" + listen + ", admin=" + adminListen
        + ", upstreams=" + upstreamOverrides + ", maxBody=" + maxBodyBytes + ", maxInflightBody=" + maxInflightBodyBytes
        + ", upstreamKeys=" + upstreamKeys.keySet()
        + "]";
  }

  /** A Redis URL without its user information (everything before the last {@code @} of the authority). */
  public static String redactUrl(String url) {
    int scheme = url.indexOf("//");
    if (scheme < 0) {
      return url.indexOf('@') >= 0 ? "***" : url;
    }
    int authorityEnd = url.indexOf('/', scheme + 2);
    String authority = authorityEnd < 0 ? url.substring(scheme + 2) : url.substring(scheme + 2, authorityEnd);
    int at = authority.lastIndexOf('@');
    if (at < 0) {
      return url;
    }
    return url.substring(0, scheme + 2) + "***@" + authority.substring(at + 1)
        + (authorityEnd < 0 ? "" : url.substring(authorityEnd));
  }

  private static HostPort hostPort(String flag, String value, String fallback, List<String> problems) {
    String text = value == null ? fallback : value;
    int colon = text.lastIndexOf(':');
    try {
      int port = Integer.parseInt(text.substring(colon + 1));
      if (colon <= 0 || port < 0 || port > 65535) {
        throw new NumberFormatException();
      }
      return new HostPort(text.substring(0, colon), port);
    } catch (RuntimeException e) {
      problems.add(flag + ": expected HOST:PORT, got \"" + text + "\"");
      return null;
    }
  }

  private static long duration(String flag, String value, long fallback, List<String> problems) {
    if (value == null) {
      return fallback;
    }
    return Durations.parseMillis(value).filter(ms -> ms > 0).orElseGet(() -> {
      problems.add(flag + ": expected a duration such as 10s, 500ms or 2m, got \"" + value + "\"");
      return fallback;
    });
  }

  private static long unit(String unit) {
    if (unit == null) {
      return 1;
    }
    return switch (unit.toLowerCase(Locale.ROOT)) {
      case "kb" -> 1_000L;
      case "kib" -> 1_024L;
      case "mb" -> 1_000_000L;
      case "mib" -> 1_048_576L;
      case "gb" -> 1_000_000_000L;
      case "gib" -> 1_073_741_824L;
      default -> 1L;
    };
  }

  private static boolean isHttpUrl(String url) {
    try {
      URI uri = new URI(url);
      return ("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) && uri.getHost() != null;
    } catch (Exception e) {
      return false;
    }
  }

  private static List<String> splitList(String value) {
    List<String> out = new ArrayList<>();
    if (value != null) {
      for (String part : value.split(",")) {
        if (!part.isBlank()) {
          out.add(part.trim());
        }
      }
    }
    return out;
  }
}
