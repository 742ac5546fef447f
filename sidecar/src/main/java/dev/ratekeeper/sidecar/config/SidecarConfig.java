package dev.ratekeeper.sidecar.config;

import dev.ratekeeper.cli.Command;
import dev.ratekeeper.cli.ConfigException;
import dev.ratekeeper.cli.HostPort;
import dev.ratekeeper.cli.Inputs;
import dev.ratekeeper.cli.RedisEndpoint;
import dev.ratekeeper.cli.Setting;
import dev.ratekeeper.cli.SidecarEnvironment;
import dev.ratekeeper.policy.compile.PolicyId;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;

/**
 * The sidecar's command line, read by the shared {@link Command}: every flag also reads from its
 * environment variable and a flag wins over its variable; values follow the rules of {@link Inputs}.
 * Parsing collects every problem so a bad start names them all at once.
 *
 * @param redis the shared Redis; null = the in-process store (limits for this process only)
 */
public record SidecarConfig(
    Path policyFile,
    PolicyId policy,
    RedisEndpoint redis,
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
    long bodyTimeoutMs,
    long headerTimeoutMs,
    Mode mode,
    boolean exitWhenReady) {

  /** What the proxy serves: one agent in its pod (the default), or many clients as a shared gateway. */
  public enum Mode {
    /** Next to one agent: loopback by default, the agent trusted to name its end user. */
    SIDECAR,
    /**
     * Shared by many clients: every interface by default, an end user's key required on every request,
     * client identity and credential headers dropped (see {@code GatewayGate}).
     */
    GATEWAY
  }

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
  public static final String DEFAULT_LISTEN = "127.0.0.1:8787";
  public static final String DEFAULT_ADMIN_LISTEN = "127.0.0.1:9787";
  /** Gateway mode's defaults: its clients are other hosts and pods. */
  public static final String GATEWAY_LISTEN = "0.0.0.0:8787";
  public static final String GATEWAY_ADMIN_LISTEN = "0.0.0.0:9787";
  static final Duration DEFAULT_BODY_TIMEOUT = Duration.ofSeconds(60);
  static final Duration DEFAULT_HEADER_TIMEOUT = Duration.ofSeconds(10);
  static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);
  static final Duration DEFAULT_UPSTREAM_TIMEOUT = Duration.ofSeconds(600);
  /** How much longer than the upstream timeout a connection may stay quiet by default. */
  static final Duration IDLE_MARGIN = Duration.ofSeconds(30);

  static final Setting MODE = Setting.value("--mode", "RATEKEEPER_MODE", "MODE",
      "sidecar (default) or gateway: shared by many clients, an end user's key required on every request,"
      + " listening on " + GATEWAY_LISTEN + " and " + GATEWAY_ADMIN_LISTEN + " unless told");
  static final Setting POLICY_FILE = Setting.value("--policy-file", "RATEKEEPER_POLICY_FILE", "FILE",
      "a RateLimitPolicy YAML file");
  static final Setting POLICY = SidecarEnvironment.POLICY;
  static final Setting REDIS = RedisEndpoint.URL.describedAs(
      "redis://[user:pass@]host:port[/db], rediss:// for TLS; absent: in-process store, limits hold for this process only");
  static final Setting LISTEN = Setting.value("--listen", "RATEKEEPER_LISTEN", "HOST:PORT",
      "the proxy, default " + DEFAULT_LISTEN);
  static final Setting ADMIN_LISTEN = SidecarEnvironment.ADMIN_LISTEN;
  static final Setting UPSTREAM = Setting.repeatable("--upstream", "RATEKEEPER_UPSTREAMS", "NAME=URL",
      "overrides the policy's URL of an upstream; repeatable, the variable comma-separated");
  static final Setting MAX_BODY = Setting.value("--max-body", "RATEKEEPER_MAX_BODY", "SIZE",
      "request-body cap, default heap/8 (at least 1MiB, at most 32MiB)");
  static final Setting MAX_INFLIGHT_BODY = Setting.value("--max-inflight-body", "RATEKEEPER_MAX_INFLIGHT_BODY", "SIZE",
      "request bodies held at once, default heap/4 (at least --max-body)");
  static final Setting IDLE_TIMEOUT = Setting.value("--idle-timeout", "RATEKEEPER_IDLE_TIMEOUT", "DUR",
      "a proxy connection with no bytes either way, default --upstream-timeout + 30s");
  static final Setting BODY_TIMEOUT = Setting.value("--body-timeout", "RATEKEEPER_BODY_TIMEOUT", "DUR",
      "a metered call's whole body, default 60s");
  static final Setting HEADER_TIMEOUT = Setting.value("--header-timeout", "RATEKEEPER_HEADER_TIMEOUT", "DUR",
      "a new connection's first request headers, default 10s");
  static final Setting API_KEYS_FILE = Setting.value("--api-keys-file", "RATEKEEPER_API_KEYS_FILE", "FILE",
      "end-user keys, lines <user-id>: <key>");
  static final Setting SIDECAR_ID = Setting.value("--sidecar-id", "RATEKEEPER_SIDECAR_ID", "ID",
      "default: $POD_NAME or a random id");
  static final Setting CONNECT_TIMEOUT = Setting.value("--connect-timeout", "RATEKEEPER_CONNECT_TIMEOUT", "DUR",
      "upstream connect timeout, default 10s");
  static final Setting UPSTREAM_TIMEOUT = Setting.value("--upstream-timeout", "RATEKEEPER_UPSTREAM_TIMEOUT", "DUR",
      "upstream response timeout, default 600s");
  static final Setting EXIT_WHEN_READY = Setting.flagSwitch("--exit-when-ready", "RATEKEEPER_EXIT_WHEN_READY",
      "start, and once ready stop and exit 0: a training run, such as the one that writes the image's"
      + " class-data archive (images/sidecar.Dockerfile)");

  /** The sidecar's command line. */
  public static final Command COMMAND = Command.named("ratekeeper-sidecar", "java -jar ratekeeper-sidecar.jar")
      .add(MODE, POLICY_FILE, POLICY, REDIS, RedisEndpoint.PASSWORD, RedisEndpoint.MODE, RedisEndpoint.MASTER_NAME,
          RedisEndpoint.USER, RedisEndpoint.CA_FILE, RedisEndpoint.CERT_FILE, RedisEndpoint.KEY_FILE,
          RedisEndpoint.VERIFY_HOSTNAME, LISTEN, ADMIN_LISTEN, UPSTREAM, MAX_BODY,
          MAX_INFLIGHT_BODY, HEADER_TIMEOUT, IDLE_TIMEOUT, BODY_TIMEOUT, API_KEYS_FILE, SIDECAR_ID, CONNECT_TIMEOUT, UPSTREAM_TIMEOUT,
          EXIT_WHEN_READY)
      .footer("Provider keys: " + SidecarEnvironment.UPSTREAM_KEY_PREFIX
              + "<NAME> (e.g. " + SidecarEnvironment.upstreamKeyVariable("anthropic") + ").",
          "Durations: 500ms, 10s, 2m, 1h30m (more than zero). Sizes: 65536, 64KiB, 1MB, 32MiB.");

  /** Parses flags, falling back to {@code env} for each one. */
  public static SidecarConfig parse(String[] args, Map<String, String> env) throws ConfigException {
    Inputs in = COMMAND.read(args, env);
    String policyFile = in.text(POLICY_FILE);
    String policyName = in.text(POLICY);
    PolicyId policy = null;
    if (policyFile == null && policyName == null) {
      in.problem("one of --policy-file or --policy is required");
    } else if (policyFile != null && policyName != null) {
      in.problem("--policy-file and --policy exclude each other");
    }
    if (policyName != null) {
      try {
        policy = PolicyId.parse(policyName);
      } catch (IllegalArgumentException e) {
        in.problem(POLICY, e.getMessage());
      }
    }
    RedisEndpoint redis = RedisEndpoint.read(in, null);
    if (policyName != null && !in.isSet(REDIS)) {
      in.problem("--policy reads the compiled policy from Redis: --redis is required");
    }
    Mode mode = in.choice(MODE, Mode.class, Mode.SIDECAR);
    boolean gateway = mode == Mode.GATEWAY;
    HostPort listen = in.hostPort(LISTEN, gateway ? GATEWAY_LISTEN : DEFAULT_LISTEN);
    HostPort admin = in.hostPort(ADMIN_LISTEN, gateway ? GATEWAY_ADMIN_LISTEN : DEFAULT_ADMIN_LISTEN);

    Map<String, String> upstreams = new LinkedHashMap<>();
    for (String spec : in.list(UPSTREAM)) {
      int eq = spec.indexOf('=');
      String name = eq > 0 ? spec.substring(0, eq).strip() : "";
      String url = eq > 0 ? spec.substring(eq + 1).strip() : "";
      if (name.isEmpty() || !isHttpUrl(url)) {
        in.problem(UPSTREAM, "expected NAME=http(s)://host[:port], got \"" + spec + "\"");
      } else {
        upstreams.put(name, url.endsWith("/") ? url.substring(0, url.length() - 1) : url);
      }
    }

    long heap = Runtime.getRuntime().maxMemory();
    long maxBody = in.size(MAX_BODY, defaultMaxBody(heap));
    long maxInflight = in.size(MAX_INFLIGHT_BODY, Math.max(maxBody, heap / HEAP_PER_INFLIGHT));
    if (maxInflight < maxBody) {
      in.problem(MAX_INFLIGHT_BODY, "must be at least --max-body (" + maxBody + " bytes)");
    }
    Duration bodyTimeout = in.duration(BODY_TIMEOUT, DEFAULT_BODY_TIMEOUT);
    Duration headerTimeout = in.duration(HEADER_TIMEOUT, DEFAULT_HEADER_TIMEOUT);
    Duration connectTimeout = in.duration(CONNECT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT);
    Duration upstreamTimeout = in.duration(UPSTREAM_TIMEOUT, DEFAULT_UPSTREAM_TIMEOUT);
    // longer than the upstream timeout, so a slow answer is never cut by the client side going quiet
    Duration idleTimeout = in.duration(IDLE_TIMEOUT, upstreamTimeout.plus(IDLE_MARGIN));

    String keysFile = in.text(API_KEYS_FILE);
    String sidecarId = in.text(SIDECAR_ID, in.env(SidecarEnvironment.POD_NAME));
    if (sidecarId == null) {
      sidecarId = (gateway ? "gateway-" : "sidecar-") + UUID.randomUUID().toString().substring(0, 8);
    }
    boolean exitWhenReady = in.bool(EXIT_WHEN_READY, false);
    in.check();
    return new SidecarConfig(policyFile == null ? null : Path.of(policyFile), policy, redis, listen, admin,
        upstreams, maxBody, keysFile == null ? null : Path.of(keysFile), sidecarId, connectTimeout.toMillis(),
        upstreamTimeout.toMillis(), upstreamKeys(in), maxInflight, idleTimeout.toMillis(), bodyTimeout.toMillis(),
        headerTimeout.toMillis(), mode, exitWhenReady);
  }

  /** Whether this proxy runs as a shared gateway ({@code --mode gateway}). */
  public boolean gateway() {
    return mode == Mode.GATEWAY;
  }

  /** The help, {@code --help}. */
  public static String usage() {
    return COMMAND.usage();
  }

  /** The default {@code --max-body} for a heap of {@code maxHeapBytes}: an eighth of it, from 1 MiB to 32 MiB. */
  public static long defaultMaxBody(long maxHeapBytes) {
    return Math.max(MIN_DEFAULT_MAX_BODY, Math.min(DEFAULT_MAX_BODY, maxHeapBytes / HEAP_PER_BODY));
  }

  /** Provider keys from {@code RATEKEEPER_UPSTREAM_KEY_<NAME>}, keyed by upstream name ({@code _} read as {@code -}). */
  private static Map<String, String> upstreamKeys(Inputs in) {
    Map<String, String> keys = new LinkedHashMap<>();
    in.envWithPrefix(SidecarEnvironment.UPSTREAM_KEY_PREFIX)
        .forEach((suffix, key) -> keys.put(SidecarEnvironment.upstreamOfKeyVariable(suffix), key));
    return keys;
  }

  /** Parses with the process environment. */
  public static SidecarConfig fromProcess(String[] args) throws ConfigException {
    return parse(args, System.getenv());
  }

  /** How the Redis client reaches {@link #redis()} (null: the in-process store). */
  public dev.ratekeeper.sidecar.store.RedisClientSettings redisClient() {
    return redis == null ? null : dev.ratekeeper.sidecar.store.RedisClientSettings.of(redis);
  }

  /** Whether the sidecar runs without Redis (limits for this process only). */
  public boolean inProcessStore() {
    return redis == null;
  }

  @Override
  public String toString() {
    // never print secrets: RedisEndpoint prints no password, upstream keys only by name
    return "SidecarConfig[mode=" + mode + ", policy=" + (policy != null ? policy : policyFile) + ", redis="
        + (redis == null ? "in-process" : redis) + ", listen=" + listen + ", admin=" + adminListen
        + ", upstreams=" + upstreamOverrides + ", maxBody=" + maxBodyBytes + ", maxInflightBody=" + maxInflightBodyBytes
        + ", upstreamKeys=" + upstreamKeys.keySet()
        + "]";
  }

  private static boolean isHttpUrl(String url) {
    try {
      URI uri = new URI(url);
      return ("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) && uri.getHost() != null;
    } catch (Exception e) {
      return false;
    }
  }
}
