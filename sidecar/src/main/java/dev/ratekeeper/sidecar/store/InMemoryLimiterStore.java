package dev.ratekeeper.sidecar.store;

import dev.ratekeeper.policy.keys.RedisKeys;
import dev.ratekeeper.policy.periods.CalendarPeriod;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.CalendarQuota;
import dev.ratekeeper.sidecar.limiter.Check;
import dev.ratekeeper.sidecar.limiter.CheckOutcome;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.DecisionAssembler;
import dev.ratekeeper.sidecar.limiter.Dimension;
import dev.ratekeeper.sidecar.limiter.DuplicateRequestException;
import dev.ratekeeper.sidecar.limiter.Evaluation;
import dev.ratekeeper.sidecar.limiter.LeaseSet;
import dev.ratekeeper.sidecar.limiter.LimitPlan;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.limiter.ReconcileResult;
import dev.ratekeeper.sidecar.limiter.TokenBucket;
import io.vertx.core.Future;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.LongSupplier;

/**
 * The limiter in this process only: for sidecars started without Redis, for the LocalFallback mode,
 * and as the executable twin of the Lua scripts. It keeps the same counters under the same key names
 * and in the same formats as {@code admit.lua} / {@code reconcile.lua} (see {@link #snapshot()}), with
 * the same expiry, against an injected clock. Thread-safe (one lock; every operation is O(checks)).
 */
public final class InMemoryLimiterStore implements LimiterStore {
  private static final int SWEEP_EVERY = 4096;

  private final LimiterOptions options;
  private final LongSupplier clockMs;
  private final Map<String, Entry> data = new HashMap<>();
  private long operations;

  public InMemoryLimiterStore() {
    this(LimiterOptions.DEFAULTS, System::currentTimeMillis);
  }

  /** @param clockMs the store's clock, ms since the epoch (tests inject one they can move) */
  public InMemoryLimiterStore(LimiterOptions options, LongSupplier clockMs) {
    this.options = options;
    this.clockMs = clockMs;
  }

  @Override
  public Future<Decision> admit(AdmitRequest request) {
    try {
      return Future.succeededFuture(admitNow(request));
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
  }

  @Override
  public Future<ReconcileResult> reconcile(ReconcileRequest request) {
    try {
      return Future.succeededFuture(reconcileNow(request));
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
  }

  private synchronized Decision admitNow(AdmitRequest request) {
    long now = clockMs.getAsLong();
    sweep(now);
    RedisKeys keys = new RedisKeys(request.policy().id());
    CalendarPeriod statsPeriod = LimitPlan.statsPeriod(request.policy());
    String statsKey = keys.stats(statsPeriod.id(now));
    String recordKey = keys.reservation(request.requestId());
    if (!request.peek() && live(recordKey, now) != null) {
      throw new DuplicateRequestException(request.requestId());
    }

    List<Check> checks = LimitPlan.checks(request);
    List<Evaluation> evaluations = new ArrayList<>(checks.size());
    List<Runnable> writes = new ArrayList<>(checks.size());
    Map<String, String> charged = new TreeMap<>();
    boolean allPassed = true;
    for (Check check : checks) {
      String key = check.key();
      Evaluation evaluation;
      switch (check.kind()) {
        case BUCKET -> {
          Bucket bucket = (Bucket) live(key, now);
          long occupancy = bucket == null ? 0 : TokenBucket.drained(bucket.lastMs, bucket.occupancy, now, check.limit());
          evaluation = TokenBucket.evaluate(check, occupancy);
          long next = TokenBucket.charged(check, occupancy);
          writes.add(() -> put(key, new Bucket(now, next), now + TokenBucket.ttlMs(next, check.limit())));
          charged.put(key, Long.toString(check.cost()));
        }
        case QUOTA -> {
          long end = check.quotaEndMs(now);
          Quota quota = (Quota) live(key, now);
          String periodId = check.quotaPeriodId(quota == null ? null : quota.periodId, now);
          long count = quota == null ? 0 : check.quotaCount(quota.periodId, quota.count, now);
          evaluation = CalendarQuota.evaluate(check, count, now, end);
          writes.add(() -> put(key, new Quota(periodId, count + check.cost()), now + CalendarQuota.ttlMs(now, end)));
          charged.put(key, check.cost() + ":" + periodId);
        }
        case LEASE -> {
          Leases leases = (Leases) live(key, now);
          long liveLeases = 0;
          long earliest = Long.MAX_VALUE;
          if (leases != null) {
            for (long expiry : leases.expiries.values()) {
              if (expiry > now) {
                liveLeases++;
                earliest = Math.min(earliest, expiry);
              }
            }
          }
          evaluation = LeaseSet.evaluate(check, liveLeases, earliest, now, options.leaseTtlMs(),
              options.concurrencyRetryHintMs());
          writes.add(() -> {
            Leases next = leases == null ? new Leases() : leases;
            next.expiries.values().removeIf(expiry -> expiry <= now);
            next.expiries.put(request.requestId(), now + options.leaseTtlMs());
            put(key, next, now + options.leaseTtlMs() + 1000);
          });
          charged.put(key, "1");
        }
        default -> throw new IllegalStateException(check.kind().toString());
      }
      evaluations.add(evaluation);
      allPassed &= evaluation.passed();
    }

    boolean committed = !request.peek() && (allPassed || request.shadow());
    long statsExpiry = statsPeriod.endMs(now) + options.statsRetentionMs();
    Hash stats = hash(statsKey, now);
    if (request.peek()) {
      List<CheckOutcome> outcomes = evaluations.stream().map(e -> e.outcome(false)).toList();
      return DecisionAssembler.assemble(request, checks, outcomes, false, now);
    }
    if (committed) {
      writes.forEach(Runnable::run);
      Hash record = new Hash();
      record.fields.put("state", request.metered() ? "held" : "counted");
      record.fields.put("user", request.user());
      record.fields.put("tier", request.tier().name());
      record.fields.put("tokens", Long.toString(request.reservedTokens()));
      record.fields.put("cost", Long.toString(request.reservedCostMicros()));
      record.fields.putAll(charged);
      put(recordKey, record, now + options.recordTtlMs(request.metered()));
      stats.increment("requests", 1);
      stats.increment("requests:" + request.tier().name(), 1);
      if (!allPassed) {
        stats.increment("shadowThrottled", 1);
      }
    } else {
      boolean never = evaluations.stream().anyMatch(Evaluation::neverPassable);
      stats.increment(never ? "rejected" : "throttled", 1);
      if (!never) {
        stats.increment("throttled:" + request.tier().name(), 1);
      }
    }
    put(statsKey, stats, statsExpiry);

    List<CheckOutcome> outcomes = evaluations.stream().map(e -> e.outcome(committed)).toList();
    return DecisionAssembler.assemble(request, checks, outcomes, committed, now);
  }

  private synchronized ReconcileResult reconcileNow(ReconcileRequest request) {
    long now = clockMs.getAsLong();
    sweep(now);
    AdmitRequest admitted = request.admitted();
    RedisKeys keys = new RedisKeys(admitted.policy().id());
    String recordKey = keys.reservation(admitted.requestId());
    Hash record = (Hash) live(recordKey, now);
    if (record == null) {
      return new ReconcileResult(ReconcileResult.Outcome.UNKNOWN, 0, 0, now);
    }
    if ("done".equals(record.fields.get("state"))) {
      return new ReconcileResult(ReconcileResult.Outcome.ALREADY_RECONCILED, 0, 0, now);
    }
    if (!"held".equals(record.fields.get("state"))) {
      return new ReconcileResult(ReconcileResult.Outcome.UNKNOWN, 0, 0, now);
    }

    long actualTokens = request.actualTokens();
    long actualCost = request.actualCostMicros();
    for (Check check : LimitPlan.checks(admitted)) {
      String charged = check.reconciled() ? record.fields.get(check.key()) : null;
      if (charged == null) {
        continue;
      }
      String key = check.key();
      long actual = check.unit() == Dimension.Unit.TOKENS ? actualTokens : actualCost;
      switch (check.kind()) {
        case LEASE -> {
          Leases leases = (Leases) live(key, now);
          if (leases != null) {
            leases.expiries.remove(admitted.requestId());
            if (leases.expiries.isEmpty()) {
              data.remove(key); // as Redis deletes an emptied sorted set
            }
          }
        }
        case BUCKET -> {
          Bucket bucket = (Bucket) live(key, now);
          long occupancy = bucket == null ? 0 : TokenBucket.drained(bucket.lastMs, bucket.occupancy, now, check.limit());
          long next = TokenBucket.recharged(occupancy, Long.parseLong(charged), actual, check.periodMs());
          put(key, new Bucket(now, next), now + TokenBucket.ttlMs(next, check.limit()));
        }
        case QUOTA -> {
          int colon = charged.indexOf(':');
          long reserved = Long.parseLong(charged.substring(0, colon));
          String reservedPeriod = charged.substring(colon + 1);
          long end = check.quotaEndMs(now);
          Quota quota = (Quota) live(key, now);
          String periodId = check.quotaPeriodId(quota == null ? null : quota.periodId, now);
          long count = quota == null ? 0 : check.quotaCount(quota.periodId, quota.count, now);
          long next = CalendarQuota.recharged(count, reserved, actual,
              check.quotaStillCounts(reservedPeriod, quota == null ? null : quota.periodId, now));
          put(key, new Quota(periodId, next), now + CalendarQuota.ttlMs(now, end));
        }
        default -> throw new IllegalStateException(check.kind().toString());
      }
    }
    // as reconcile.lua: a reconciled record keeps only its state (nothing reads the rest again)
    Hash done = new Hash();
    done.fields.put("state", "done");
    put(recordKey, done, now + options.reconciledTtlMs());

    CalendarPeriod statsPeriod = LimitPlan.statsPeriod(admitted.policy());
    String periodId = statsPeriod.id(now);
    long statsExpiry = statsPeriod.endMs(now) + options.statsRetentionMs();
    String user = record.fields.get("user");
    if (request.estimated()) {
      Hash stats = hash(keys.stats(periodId), now);
      stats.increment("estimated", 1);
      put(keys.stats(periodId), stats, statsExpiry);
    }
    if (actualCost > 0) {
      Hash stats = hash(keys.stats(periodId), now);
      stats.increment("spendMicros", actualCost);
      put(keys.stats(periodId), stats, statsExpiry);
      Zset top = live(keys.topUsers(periodId), now) instanceof Zset z ? z : new Zset();
      top.scores.merge(user, actualCost, Long::sum);
      put(keys.topUsers(periodId), top, statsExpiry);
    }
    if (actualTokens > 0) {
      Hash tokens = hash(keys.topUserTokens(periodId), now);
      tokens.increment(user, actualTokens);
      put(keys.topUserTokens(periodId), tokens, statsExpiry);
    }
    if (actualCost > 0 || actualTokens > 0) {
      Hash tiers = hash(keys.topUserTiers(periodId), now);
      tiers.fields.put(user, record.fields.get("tier"));
      put(keys.topUserTiers(periodId), tiers, statsExpiry);
    }
    return new ReconcileResult(ReconcileResult.Outcome.RECONCILED,
        actualTokens - Long.parseLong(record.fields.get("tokens")),
        actualCost - Long.parseLong(record.fields.get("cost")), now);
  }

  @Override
  public Future<Void> refund(AdmitRequest admitted) {
    try {
      refundNow(admitted);
      return Future.succeededFuture();
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
  }

  /** As settle.lua's refund: a held or counted admission is given back whole, exactly once. */
  private synchronized void refundNow(AdmitRequest admitted) {
    long now = clockMs.getAsLong();
    RedisKeys keys = new RedisKeys(admitted.policy().id());
    String recordKey = keys.reservation(admitted.requestId());
    Hash record = (Hash) live(recordKey, now);
    if (record == null) {
      Hash tombstone = new Hash();
      tombstone.fields.put("state", "settled");
      put(recordKey, tombstone, now + options.reservationTtlMs());
      return;
    }
    String state = record.fields.get("state");
    if (!"held".equals(state) && !"counted".equals(state)) {
      return;
    }
    for (Check check : LimitPlan.checks(admitted)) {
      String was = record.fields.get(check.key());
      if (was == null) {
        continue;
      }
      String key = check.key();
      switch (check.kind()) {
        case LEASE -> {
          Leases leases = (Leases) live(key, now);
          if (leases != null) {
            leases.expiries.remove(admitted.requestId());
            if (leases.expiries.isEmpty()) {
              data.remove(key);
            }
          }
        }
        case BUCKET -> {
          Bucket bucket = (Bucket) live(key, now);
          long occupancy = bucket == null ? 0 : TokenBucket.drained(bucket.lastMs, bucket.occupancy, now, check.limit());
          long next = Math.max(0, occupancy - Long.parseLong(was) * check.periodMs());
          put(key, new Bucket(now, next), now + TokenBucket.ttlMs(next, check.limit()));
        }
        case QUOTA -> {
          int colon = was.indexOf(':');
          long reserved = Long.parseLong(was.substring(0, colon));
          Quota quota = (Quota) live(key, now);
          if (quota != null && check.quotaStillCounts(was.substring(colon + 1), quota.periodId, now)) {
            long end = check.quotaEndMs(now);
            long count = check.quotaCount(quota.periodId, quota.count, now);
            put(key, new Quota(check.quotaPeriodId(quota.periodId, now), Math.max(0, count - reserved)),
                now + CalendarQuota.ttlMs(now, end));
          }
        }
        default -> throw new IllegalStateException(check.kind().toString());
      }
    }
    CalendarPeriod statsPeriod = LimitPlan.statsPeriod(admitted.policy());
    String statsKey = keys.stats(statsPeriod.id(now));
    Hash stats = hash(statsKey, now);
    stats.increment("requests", -1);
    if (Long.parseLong(stats.fields.get("requests")) < 0) {
      stats.fields.put("requests", "0");
    }
    stats.increment("refunded", 1);
    put(statsKey, stats, statsPeriod.endMs(now) + options.statsRetentionMs());
    record.fields.put("state", "settled");
    put(recordKey, record, now + options.reservationTtlMs());
  }

  /**
   * Every live key rendered as {@code RedisLimiterStore} reads the same key back from Redis: strings
   * as they are, hashes and sorted sets as sorted {@code {field=value, ...}} maps. For tests and debugging.
   */
  public synchronized Map<String, String> snapshot() {
    long now = clockMs.getAsLong();
    Map<String, String> out = new TreeMap<>();
    data.forEach((key, entry) -> {
      if (entry.expiresAtMs >= now) {
        out.put(key, entry.value.render());
      }
    });
    return out;
  }

  private Value live(String key, long now) {
    Entry entry = data.get(key);
    if (entry == null) {
      return null;
    }
    if (entry.expiresAtMs < now) {
      data.remove(key);
      return null;
    }
    return entry.value;
  }

  private Hash hash(String key, long now) {
    return live(key, now) instanceof Hash h ? h : new Hash();
  }

  private void put(String key, Value value, long expiresAtMs) {
    data.put(key, new Entry(value, expiresAtMs));
  }

  private void sweep(long now) {
    if (++operations % SWEEP_EVERY == 0) {
      data.values().removeIf(entry -> entry.expiresAtMs < now);
    }
  }

  private record Entry(Value value, long expiresAtMs) {}

  private sealed interface Value permits Bucket, Quota, Leases, Hash, Zset {
    String render();
  }

  /** As {@code admit.lua}'s STRING {@code <lastMs>:<occupancy>}. */
  private record Bucket(long lastMs, long occupancy) implements Value {
    @Override
    public String render() {
      return lastMs + ":" + occupancy;
    }
  }

  /** As {@code admit.lua}'s STRING {@code <periodId>:<count>}. */
  private record Quota(String periodId, long count) implements Value {
    @Override
    public String render() {
      return periodId + ":" + count;
    }
  }

  /** As {@code admit.lua}'s ZSET request id → expiry ms. */
  private static final class Leases implements Value {
    final Map<String, Long> expiries = new HashMap<>();

    @Override
    public String render() {
      return new TreeMap<>(expiries).toString();
    }
  }

  private static final class Hash implements Value {
    final Map<String, String> fields = new HashMap<>();

    void increment(String field, long by) {
      fields.merge(field, Long.toString(by), (a, b) -> Long.toString(Long.parseLong(a) + Long.parseLong(b)));
    }

    @Override
    public String render() {
      return new TreeMap<>(fields).toString();
    }
  }

  private static final class Zset implements Value {
    final Map<String, Long> scores = new HashMap<>();

    @Override
    public String render() {
      return new TreeMap<>(scores).toString();
    }
  }
}
