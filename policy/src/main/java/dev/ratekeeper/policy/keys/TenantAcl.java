package dev.ratekeeper.policy.keys;

import java.util.List;

/**
 * The Redis 6+ ACL user of one agent namespace (docs/redis-keys.md, "Per-tenant users"): it may read
 * and write only the keys and pub/sub channels of the policies in its namespace ({@code rk:{<ns>/*}),
 * through the commands the sidecar and its scripts use. Scripts run with their caller's permissions,
 * so a script called with another namespace's keys is refused ({@code NOPERM}) before it runs.
 *
 * <p>Commands: every {@code @read}, {@code @write}, {@code @scripting}, {@code @pubsub} and
 * {@code @connection} command (the scripts' own commands included, so a new script needs no new rule),
 * minus {@code @dangerous} and {@code @admin} (no FLUSHALL, KEYS, CONFIG, CLIENT KILL, MIGRATE, ...),
 * minus the commands that would show other tenants' key or channel names ({@code SCAN},
 * {@code RANDOMKEY}, {@code PUBSUB}), plus {@code TIME} (the scripts read Redis' clock) and
 * {@code CLUSTER SLOTS} (a Cluster client learns the slots).
 * Namespace names are DNS labels: no glob character, and the {@code /} after the name keeps
 * {@code team-a} from matching {@code team-ab}.
 */
public final class TenantAcl {
  /** User names are {@code rk-ns-<namespace>}. */
  public static final String USER_PREFIX = "rk-ns-";

  private TenantAcl() {}

  public static String userName(String namespace) {
    return USER_PREFIX + namespace;
  }

  /** The key (and channel) pattern of every policy of {@code namespace}. */
  public static String pattern(String namespace) {
    if (!namespace.matches("[a-z0-9]([-a-z0-9]*[a-z0-9])?")) {
      throw new IllegalArgumentException("not a namespace name: " + namespace);
    }
    return "rk:{" + namespace + "/*";
  }

  /**
   * The rules of {@code ACL SETUSER <user> ...} for {@code namespace}, password excluded (the caller
   * adds {@code resetpass} and {@code >password}): they replace whatever the user had.
   */
  public static List<String> rules(String namespace) {
    String pattern = pattern(namespace);
    return List.of("on", "resetkeys", "~" + pattern, "resetchannels", "&" + pattern, "-@all", "+@read", "+@write",
        "+@scripting", "+@pubsub", "+@connection", "-@dangerous", "-@admin", "-scan", "-randomkey", "-pubsub", "+time",
        "+cluster|slots");
  }
}
