package dev.ratekeeper.operator.store;

import dev.ratekeeper.operator.status.Heartbeat;
import dev.ratekeeper.operator.status.UsageCounters;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.PolicyCodec;
import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.policy.keys.RedisKeys;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.Pipeline;
import redis.clients.jedis.Response;
import redis.clients.jedis.Transaction;
import redis.clients.jedis.exceptions.JedisException;
import redis.clients.jedis.params.ScanParams;
import redis.clients.jedis.resps.ScanResult;
import redis.clients.jedis.resps.Tuple;

/**
 * The operator's side of the Redis key scheme ({@link RedisKeys}): writes a policy's configuration
 * (compiled revisions, the current-revision switch, the API-key hashes), reads what sidecars
 * report (heartbeats, usage statistics), and removes the configuration when the policy goes.
 * Synchronous, one pooled connection per call, short timeouts: a reconciler thread blocks briefly
 * or fails with {@link StoreUnavailableException}. Each call runs on the node that owns the policy's
 * keys ({@link RedisNodes}: one node, the master Sentinel names, or the Cluster slot's master).
 */
public final class RedisPolicyStore implements AutoCloseable {
  /** Heartbeats older than this are pruned from the sidecar set; dead pods do not accumulate. */
  static final Duration PRUNE_HEARTBEATS_AFTER = Duration.ofHours(1);
  private static final int TOP_USERS = 10;
  private static final int PUBLISH_ATTEMPTS = 3;

  private final RedisNodes nodes;
  private final String address;
  private final Duration revisionRetention;

  public RedisPolicyStore(RedisSettings settings, Duration revisionRetention) {
    this.nodes = RedisNodes.open(settings);
    this.address = settings.address();
    this.revisionRetention = revisionRetention;
  }

  /** The per-namespace Redis users, on the same connections. */
  public TenantUsers tenantUsers() {
    return new TenantUsers(nodes, address);
  }

  /** Fails with {@link StoreUnavailableException} unless Redis (every Cluster master) answers PING. */
  public void ping() {
    try {
      nodes.onEveryMaster(Jedis::ping);
    } catch (JedisException e) {
      throw new StoreUnavailableException("Redis at " + address + " failed while answering PING", e);
    }
  }

  /** Redis server time in ms since the epoch: the clock sidecars stamp heartbeats and periods with. */
  public long serverTimeMillis() {
    List<String> time = call("reading its clock (TIME)", "", Jedis::time);
    return Long.parseLong(time.get(0)) * 1000 + Long.parseLong(time.get(1)) / 1000;
  }

  /**
   * Stores {@code policy} under its revision and makes it current, atomically (WATCH + MULTI/EXEC):
   * a reader sees either the old or the new revision, each complete. The revision that stops being
   * current expires after the retention period; the new one is persisted. When the current
   * revision moves, the new revision is published on the change channel in the same transaction.
   * A no-op when {@code policy}'s revision is already current and stored.
   */
  public PublishResult publish(CompiledPolicy policy) {
    RedisKeys keys = new RedisKeys(policy.id());
    String revision = policy.revision();
    String json = PolicyCodec.toJson(policy);
    return call("publishing revision " + revision, keys.currentRevision(), jedis -> {
      for (int attempt = 0; attempt < PUBLISH_ATTEMPTS; attempt++) {
        jedis.watch(keys.currentRevision());
        String previous = jedis.get(keys.currentRevision());
        long ttl = jedis.ttl(keys.revision(revision));
        if (revision.equals(previous) && ttl == -1) {
          jedis.unwatch();
          return new PublishResult(revision, previous, false);
        }
        boolean switching = !revision.equals(previous);
        Transaction tx = jedis.multi();
        tx.set(keys.revision(revision), json);
        tx.set(keys.currentRevision(), revision);
        if (switching && previous != null) {
          tx.pexpire(keys.revision(previous), revisionRetention.toMillis());
        }
        if (switching) {
          tx.publish(keys.changeChannel(), revision);
        }
        if (tx.exec() != null) {
          return new PublishResult(revision, previous, switching);
        }
      }
      throw new JedisException(keys.currentRevision() + " changed during " + PUBLISH_ATTEMPTS
          + " attempts to switch it; is another operator writing the same policy?");
    });
  }

  /** The revision sidecars are told to enforce, if any. */
  public Optional<String> currentRevision(PolicyId id) {
    return Optional.ofNullable(call("reading the current revision", new RedisKeys(id).currentRevision(),
        j -> j.get(new RedisKeys(id).currentRevision())));
  }

  /** The compiled policy of the current revision, if any and if this build understands its schema. */
  public Optional<CompiledPolicy> currentPolicy(PolicyId id) {
    RedisKeys keys = new RedisKeys(id);
    String json = call("reading the current policy", keys.currentRevision(), j -> {
      String revision = j.get(keys.currentRevision());
      return revision == null ? null : j.get(keys.revision(revision));
    });
    if (json == null) {
      return Optional.empty();
    }
    try {
      return Optional.of(PolicyCodec.fromJson(json));
    } catch (RuntimeException e) {
      return Optional.empty();
    }
  }

  /**
   * Replaces the API-key hash (SHA-256 hex → user id) as a whole, atomically; deletes it when
   * {@code userByHash} is empty. Returns whether anything changed. Only hashes reach Redis.
   */
  public boolean replaceApiKeys(PolicyId id, Map<String, String> userByHash) {
    String key = new RedisKeys(id).apiKeys();
    return call("writing API-key hashes", key, jedis -> {
      if (jedis.hgetAll(key).equals(userByHash)) {
        return false;
      }
      Transaction tx = jedis.multi();
      tx.del(key);
      if (!userByHash.isEmpty()) {
        tx.hset(key, userByHash);
      }
      tx.exec();
      return true;
    });
  }

  /**
   * Tells sidecars to reload (the current revision on the change channel), e.g. after the API-key
   * hashes changed while the revision did not.
   */
  public void announce(PolicyId id, String revision) {
    RedisKeys keys = new RedisKeys(id);
    call("publishing a reload", keys.changeChannel(), j -> j.publish(keys.changeChannel(), revision));
  }

  /**
   * Reads heartbeats (pruning those older than an hour) with each sidecar's revision and build hash,
   * and the usage counters of period {@code periodId}, in two pipelined round trips.
   */
  public FleetSnapshot readFleet(PolicyId id, long nowMs, String periodId) {
    return readFleet(id, nowMs, periodId, true);
  }

  /** As {@link #readFleet}, writing nothing (heartbeats older than an hour are left for the next refresh to prune). */
  public FleetSnapshot peekFleet(PolicyId id, long nowMs, String periodId) {
    return readFleet(id, nowMs, periodId, false);
  }

  private FleetSnapshot readFleet(PolicyId id, long nowMs, String periodId, boolean prune) {
    RedisKeys keys = new RedisKeys(id);
    return call("reading heartbeats and usage", keys.sidecars(), jedis -> {
      Pipeline first = jedis.pipelined();
      if (prune) {
        first.zremrangeByScore(keys.sidecars(), "-inf", "(" + (nowMs - PRUNE_HEARTBEATS_AFTER.toMillis()));
      }
      Response<List<Tuple>> beats = first.zrangeByScoreWithScores(keys.sidecars(), "-inf", "+inf");
      Response<List<String>> stats = first.hmget(keys.stats(periodId), "requests", "throttled", "spendMicros",
          "estimated");
      Response<List<Tuple>> top = first.zrevrangeWithScores(keys.topUsers(periodId), 0, TOP_USERS - 1);
      first.sync();

      List<Tuple> sidecars = beats.get();
      List<Tuple> spenders = top.get();
      Pipeline second = jedis.pipelined();
      Response<List<String>> revisions = sidecars.isEmpty() ? null
          : second.mget(sidecars.stream().map(t -> keys.sidecar(t.getElement())).toArray(String[]::new));
      List<Response<List<String>>> builds = sidecars.stream()
          .map(t -> second.hmget(keys.sidecarBuild(t.getElement()), "version", "mode")).toList();
      String[] users = spenders.stream().map(Tuple::getElement).toArray(String[]::new);
      Response<List<String>> tiers = users.length == 0 ? null : second.hmget(keys.topUserTiers(periodId), users);
      Response<List<String>> tokens = users.length == 0 ? null : second.hmget(keys.topUserTokens(periodId), users);
      second.sync();

      List<Heartbeat> heartbeats = new ArrayList<>(sidecars.size());
      for (int i = 0; i < sidecars.size(); i++) {
        Tuple t = sidecars.get(i);
        List<String> build = builds.get(i).get();
        heartbeats.add(new Heartbeat(t.getElement(), (long) t.getScore(), revisions.get().get(i), build.get(0),
            build.get(1)));
      }
      List<UsageCounters.Spender> top10 = new ArrayList<>(spenders.size());
      for (int i = 0; i < spenders.size(); i++) {
        Tuple t = spenders.get(i);
        top10.add(new UsageCounters.Spender(t.getElement(), Math.round(t.getScore()), tiers.get().get(i),
            parseLong(tokens.get().get(i))));
      }
      List<String> s = stats.get();
      UsageCounters usage = new UsageCounters(orZero(s.get(0)), orZero(s.get(1)), orZero(s.get(2)), top10,
          orZero(s.get(3)));
      return new FleetSnapshot(heartbeats, usage);
    });
  }

  /**
   * Each tier's admitted and throttled calls in period {@code periodId} (the statistics hash's
   * {@code requests:<tier>} and {@code throttled:<tier>} fields), in one round trip.
   */
  public Map<String, dev.ratekeeper.operator.status.TierTraffic> readTierTraffic(PolicyId id, String periodId,
      List<String> tiers) {
    if (tiers.isEmpty()) {
      return Map.of();
    }
    String[] fields = tiers.stream().flatMap(t -> java.util.stream.Stream.of("requests:" + t, "throttled:" + t))
        .toArray(String[]::new);
    String stats = new RedisKeys(id).stats(periodId);
    List<String> values = call("reading tier traffic", stats, j -> j.hmget(stats, fields));
    Map<String, dev.ratekeeper.operator.status.TierTraffic> traffic = new java.util.LinkedHashMap<>();
    for (int i = 0; i < tiers.size(); i++) {
      traffic.put(tiers.get(i), new dev.ratekeeper.operator.status.TierTraffic(orZero(values.get(2 * i)),
          orZero(values.get(2 * i + 1))));
    }
    return traffic;
  }

  /**
   * Runs a Lua script ({@code EVALSHA}, or {@code EVAL} once when Redis does not have it yet) and
   * returns its reply: integers as {@link Long}, bulk strings as {@link String}, arrays as lists.
   * For read-only scripts such as {@code admit.lua} in peek mode.
   */
  public Object runScript(String source, String sha1, List<String> keys, List<String> args) {
    // every key of one policy is in one slot: the first names the node (Cluster)
    return call("running a script", keys.isEmpty() ? "" : keys.get(0), jedis -> {
      try {
        return decodeReply(jedis.evalsha(sha1, keys, args));
      } catch (redis.clients.jedis.exceptions.JedisNoScriptException e) {
        return decodeReply(jedis.eval(source, keys, args));
      }
    });
  }

  private static Object decodeReply(Object reply) {
    if (reply instanceof byte[] bytes) {
      return new String(bytes, java.nio.charset.StandardCharsets.UTF_8);
    }
    if (reply instanceof List<?> list) {
      return list.stream().map(RedisPolicyStore::decodeReply).toList();
    }
    return reply;
  }

  /**
   * Removes the policy's configuration: every compiled revision, the current-revision switch, the
   * API-key hashes and the sidecar heartbeats. Counters and usage statistics are left to expire
   * by their TTLs.
   */
  public int removeConfiguration(PolicyId id) {
    RedisKeys keys = new RedisKeys(id);
    try {
      Set<String> doomed = new LinkedHashSet<>();
      doomed.add(keys.currentRevision());
      doomed.add(keys.apiKeys());
      doomed.add(keys.sidecars());
      // the prefix is rk:{namespace/name}: — DNS names, no glob characters. Every key of the policy is in
      // one slot, but SCAN runs on every master: during a slot migration some keys are already on the other
      nodes.onEveryMaster(jedis -> {
        doomed.addAll(scan(jedis, keys.prefix() + "policy:*"));
        return doomed.addAll(scan(jedis, keys.prefix() + "sidecar:*"));
      });
      return call("removing the policy's configuration", keys.currentRevision(),
          jedis -> (int) jedis.del(doomed.toArray(String[]::new)));
    } catch (JedisException e) {
      throw new StoreUnavailableException("Redis at " + address + " failed while removing the policy's configuration",
          e);
    }
  }

  private static List<String> scan(Jedis jedis, String pattern) {
    List<String> found = new ArrayList<>();
    ScanParams params = new ScanParams().match(pattern).count(500);
    String cursor = ScanParams.SCAN_POINTER_START;
    do {
      ScanResult<String> page = jedis.scan(cursor, params);
      found.addAll(page.getResult());
      cursor = page.getCursor();
    } while (!ScanParams.SCAN_POINTER_START.equals(cursor));
    return found;
  }

  /** Runs {@code command} on the node that owns {@code key} (every key of a policy: one Cluster slot). */
  private <T> T call(String what, String key, Function<Jedis, T> command) {
    try {
      return nodes.onNodeOf(key, command);
    } catch (JedisException e) {
      throw new StoreUnavailableException("Redis at " + address + " failed while " + what, e);
    }
  }

  private static long orZero(String value) {
    Long parsed = parseLong(value);
    return parsed == null ? 0 : parsed;
  }

  private static Long parseLong(String value) {
    if (value == null) {
      return null;
    }
    try {
      return Long.parseLong(value);
    } catch (NumberFormatException e) {
      return null;
    }
  }

  @Override
  public void close() {
    nodes.close();
  }
}
