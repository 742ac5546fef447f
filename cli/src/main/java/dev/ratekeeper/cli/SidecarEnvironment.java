package dev.ratekeeper.cli;

import java.util.Locale;

/**
 * The contract between the sidecar-injection webhook and the sidecar: the flag and the variables
 * the webhook sets on the injected container are the ones the sidecar reads. Both programs use
 * these names and nothing else, so they cannot drift apart.
 */
public final class SidecarEnvironment {
  /** The policy the sidecar enforces, {@code <namespace>/<name>}, compiled into Redis by the operator. */
  public static final Setting POLICY = Setting.value("--policy", "RATEKEEPER_POLICY", "NS/NAME",
      "a policy compiled into Redis by the operator");
  /** Where the sidecar serves /metrics, /healthz and /readyz; the webhook points it at the pod IP. */
  public static final Setting ADMIN_LISTEN = Setting.value("--admin-listen", "RATEKEEPER_ADMIN_LISTEN", "HOST:PORT",
      "/metrics /healthz /readyz, default 127.0.0.1:9787");
  /** The Redis URL (no password in it when the webhook writes it). */
  public static final String REDIS_URL = RedisEndpoint.URL.env();
  /** The Redis password, from a Secret. */
  public static final String REDIS_PASSWORD = RedisEndpoint.PASSWORD.env();
  /** {@code cluster} or {@code sentinel}; absent: one node. */
  public static final String REDIS_MODE = RedisEndpoint.MODE.env();
  /** Sentinel: the master's name. */
  public static final String REDIS_MASTER_NAME = RedisEndpoint.MASTER_NAME.env();
  /** The Redis ACL user, from a Secret (per-namespace users: the one the operator keeps there). */
  public static final String REDIS_USER = RedisEndpoint.USER.env();
  /** The CA file Redis' certificate is checked against (a mounted ConfigMap). */
  public static final String REDIS_CA_FILE = RedisEndpoint.CA_FILE.env();
  /** The client certificate and its key, for a Redis with {@code tls-auth-clients} (a mounted Secret). */
  public static final String REDIS_CERT_FILE = RedisEndpoint.CERT_FILE.env();
  public static final String REDIS_KEY_FILE = RedisEndpoint.KEY_FILE.env();
  /** {@code false}: Redis' certificate need not name the host. */
  public static final String REDIS_VERIFY_HOSTNAME = RedisEndpoint.VERIFY_HOSTNAME.env();
  /** The pod's name (downward API); the sidecar's id when {@code --sidecar-id} is not given. */
  public static final String POD_NAME = "POD_NAME";
  /** The pod's IP (downward API), for {@link #ADMIN_LISTEN}. */
  public static final String POD_IP = "POD_IP";
  /** A provider key: {@code RATEKEEPER_UPSTREAM_KEY_<NAME>}, see {@link #upstreamKeyVariable}. */
  public static final String UPSTREAM_KEY_PREFIX = "RATEKEEPER_UPSTREAM_KEY_";

  private SidecarEnvironment() {}

  /** The variable holding an upstream's key: its name upper-cased, dashes as underscores. */
  public static String upstreamKeyVariable(String upstream) {
    return UPSTREAM_KEY_PREFIX + upstream.toUpperCase(Locale.ROOT).replace('-', '_');
  }

  /** The upstream a key variable is for, from the part after {@link #UPSTREAM_KEY_PREFIX}: the inverse. */
  public static String upstreamOfKeyVariable(String suffix) {
    return suffix.toLowerCase(Locale.ROOT).replace('_', '-');
  }
}
