package dev.ratekeeper.policy.keys;

import dev.ratekeeper.policy.compile.PolicyId;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;

/**
 * The Redis key scheme (docs/redis-keys.md). Every key of a policy starts with {@code rk:} and the
 * policy's hash tag, so one script call touches one Redis Cluster slot. Counters are keyed by
 * policy, user and dimension, never by revision, so editing a policy keeps what was spent.
 * User ids and model names are percent-encoded so that no id can forge another key.
 */
public final class RedisKeys {
  private final String prefix;

  public RedisKeys(PolicyId id) {
    this.prefix = "rk:" + id.hashTag() + ":";
  }

  /** Common prefix of every key of this policy. */
  public String prefix() {
    return prefix;
  }

  // ---- configuration (written by the operator, read by sidecars; removed when the policy is deleted)

  /** STRING: revision currently enforced. */
  public String currentRevision() {
    return prefix + "policy:current";
  }

  /** STRING: compiled policy JSON of one revision. */
  public String revision(String revision) {
    return prefix + "policy:rev:" + revision;
  }

  /** Pub/sub channel: the new revision is published here after {@link #currentRevision()} switches. */
  public String changeChannel() {
    return prefix + "policy:changed";
  }

  /** HASH: SHA-256 hex of an end user's API key → user id. */
  public String apiKeys() {
    return prefix + "apikeys";
  }

  /** ZSET: sidecar id → last heartbeat (ms since epoch). */
  public String sidecars() {
    return prefix + "sidecars";
  }

  /** STRING with a short TTL: the revision one sidecar enforces. */
  public String sidecar(String sidecarId) {
    return prefix + "sidecar:" + encode(sidecarId);
  }

  /**
   * HASH with the same short TTL as {@link #sidecar}: what one sidecar runs, fields {@code version}
   * (its build) and {@code mode} ({@code sidecar} or {@code gateway}). Absent for sidecars older
   * than this key; an encoded id holds no {@code :}, so it cannot collide with another id's key.
   */
  public String sidecarBuild(String sidecarId) {
    return sidecar(sidecarId) + ":build";
  }

  // ---- counters (all with a TTL)

  /** Per-user counter of a dimension, e.g. {@code user("alice", "req")}. */
  public String user(String user, String dimension) {
    return prefix + "u:" + encode(user) + ":" + dimension;
  }

  /** Per-tier counter (globalShare), e.g. {@code tier("free", "greq")}. */
  public String tier(String tier, String dimension) {
    return prefix + "t:" + tier + ":" + dimension;
  }

  /** Per-model-entry counter, keyed by the entry's name or glob as written in the policy. */
  public String model(String modelPattern, String dimension) {
    return prefix + "m:" + encode(modelPattern) + ":" + dimension;
  }

  /** Policy-wide counter, e.g. {@code global("req")}. */
  public String global(String dimension) {
    return prefix + "g:" + dimension;
  }

  /** HASH: what one admitted request reserved, so that reconcile is idempotent. */
  public String reservation(String requestId) {
    return prefix + "r:" + encode(requestId);
  }

  /** STRING with TTL: an upstream's shared cooldown after a provider 429/529 (value: when it ends, epoch ms on Redis' clock). */
  public String cooldown(String upstream) {
    return prefix + "cooldown:" + upstream;
  }

  /** STRING counter with TTL: cooldown episodes of an upstream in a row (the circuit breaker's strikes). */
  public String cooldownStrikes(String upstream) {
    return prefix + "cooldown:" + upstream + ":strikes";
  }

  /** STRING with TTL: held by the one sidecar sending the half-open probe after a cooldown. */
  public String cooldownProbe(String upstream) {
    return prefix + "cooldown:" + upstream + ":probe";
  }

  /** Pub/sub channel: {@code <upstream> <remaining ms> <strikes>} whenever a cooldown starts or ends. */
  public String cooldownChannel() {
    return prefix + "cooldowns";
  }

  /** Usage statistics of a budget period: HASH of requests / throttled / spend. */
  public String stats(String periodId) {
    return prefix + "stats:" + periodId;
  }

  /** ZSET: user → spend in micro-dollars in a period (top users). */
  public String topUsers(String periodId) {
    return prefix + "top:" + periodId;
  }

  /** HASH: user → tier the user was last admitted under in a period (labels the top users). */
  public String topUserTiers(String periodId) {
    return prefix + "top:" + periodId + ":tier";
  }

  /** HASH: user → LLM tokens used in a period (labels the top users). */
  public String topUserTokens(String periodId) {
    return prefix + "top:" + periodId + ":tokens";
  }

  public static String encode(String part) {
    for (int i = 0; i < part.length(); i++) {
      if (!unreserved(part.charAt(i))) {
        return URLEncoder.encode(part, StandardCharsets.UTF_8);
      }
    }
    return part; // the common case (user ids, model names): nothing to escape, nothing to copy
  }

  /** Characters {@link URLEncoder} leaves as they are. */
  private static boolean unreserved(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'
        || c == '.' || c == '*';
  }
}
