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
import dev.ratekeeper.sidecar.limiter.PolicyKeys;
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
  /** Slots of a policy's reconciled ids looked at per operation for expired ones (each adds at most one). */
  private static final int PURGE_STEPS = 16;
  /** A map is copied into a smaller one when a sweep leaves a quarter or less of its high mark, above this. */
  private static final int SHRINK_ABOVE = 1024;

  private final LimiterOptions options;
  private final LongSupplier clockMs;
  /** Counters and statistics: a few keys per user, looked up many times per request. */
  private Map<String, Entry> data = new HashMap<>();
  private int dataHighMark;
  /**
   * Reservation records ({@code <policy prefix>r:<request id>}), one per request for minutes, by
   * policy prefix and request id: apart, so that the counters' map stays small (and in the CPU's
   * caches) however many records are kept, and without a key string of their own. A reconciled
   * record is kept as its id and expiry only ({@link ReconciledIds}).
   */
  private final Map<String, PolicyRecords> records = new HashMap<>();
  /** Statistics field names per tier ({@code requests:<tier>}, {@code throttled:<tier>}), built once. */
  private final Map<String, String> requestsFields = new HashMap<>();
  private final Map<String, String> throttledFields = new HashMap<>();
  private long operations;

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
    PolicyKeys policyKeys = PolicyKeys.of(request.policy());
    CalendarPeriod statsPeriod = LimitPlan.statsPeriod(request.policy());
    String statsKey = policyKeys.stats(statsPeriod.id(now)).stats();
    PolicyRecords policyRecords = records(policyKeys, now);
    Map<String, Entry> records = policyRecords.byId;
    String recordKey = request.requestId();
    if (!request.peek() && record(policyRecords, recordKey, now) != null) {
      throw new DuplicateRequestException(request.requestId());
    }

    List<Check> checks = LimitPlan.checks(request);
    int n = checks.size();
    List<Evaluation> evaluations = new ArrayList<>(n);
    // what each check writes if the request is charged: the counter found, its next state, the charge
    Entry[] found = new Entry[n];
    long[] next = new long[n];
    String[] periodIds = new String[n];
    boolean allPassed = true;
    for (int i = 0; i < n; i++) {
      Check check = checks.get(i);
      Entry entry = live(check.key(), now);
      found[i] = entry;
      Evaluation evaluation;
      switch (check.kind()) {
        case BUCKET -> {
          Bucket bucket = entry == null ? null : (Bucket) entry.value;
          long occupancy = bucket == null ? 0 : TokenBucket.drained(bucket.lastMs, bucket.occupancy, now, check.limit());
          evaluation = TokenBucket.evaluate(check, occupancy);
          next[i] = TokenBucket.charged(check, occupancy);
        }
        case QUOTA -> {
          long end = check.quotaEndMs(now);
          Quota quota = entry == null ? null : (Quota) entry.value;
          periodIds[i] = check.quotaPeriodId(quota == null ? null : quota.periodId, now);
          long count = quota == null ? 0 : check.quotaCount(quota.periodId, quota.count, now);
          evaluation = CalendarQuota.evaluate(check, count, now, end);
          next[i] = count + check.cost();
        }
        case LEASE -> {
          Leases leases = entry == null ? null : (Leases) entry.value;
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
        }
        default -> throw new IllegalStateException(check.kind().toString());
      }
      evaluations.add(evaluation);
      allPassed &= evaluation.passed();
    }

    if (request.peek()) {
      List<CheckOutcome> outcomes = new ArrayList<>(n);
      for (Evaluation e : evaluations) {
        outcomes.add(e.outcome(false));
      }
      return DecisionAssembler.assemble(request, checks, outcomes, false, now);
    }
    boolean committed = allPassed || request.shadow();
    long statsExpiry = statsPeriod.endMs(now) + options.statsRetentionMs();
    Counts stats = counts(statsKey, now);
    String tier = request.tier().name();
    if (committed) {
      long[] reserved = new long[n];
      for (int i = 0; i < n; i++) {
        Check check = checks.get(i);
        String key = check.key();
        switch (check.kind()) {
          case BUCKET -> {
            Entry entry = found[i];
            if (entry != null && entry.value instanceof Bucket bucket) {
              bucket.lastMs = now;
              bucket.occupancy = next[i];
              entry.expiresAtMs = now + TokenBucket.ttlMs(next[i], check.limit());
            } else {
              put(key, new Bucket(now, next[i]), now + TokenBucket.ttlMs(next[i], check.limit()));
            }
            reserved[i] = check.cost();
          }
          case QUOTA -> {
            long expiry = now + CalendarQuota.ttlMs(now, check.quotaEndMs(now));
            Entry entry = found[i];
            if (entry != null && entry.value instanceof Quota quota) {
              quota.periodId = periodIds[i];
              quota.count = next[i];
              entry.expiresAtMs = expiry;
            } else {
              put(key, new Quota(periodIds[i], next[i]), expiry);
            }
            reserved[i] = check.cost();
          }
          case LEASE -> {
            Entry entry = found[i];
            Leases leases = entry == null ? new Leases() : (Leases) entry.value;
            leases.expiries.values().removeIf(expiry -> expiry <= now);
            leases.expiries.put(request.requestId(), now + options.leaseTtlMs());
            put(key, leases, now + options.leaseTtlMs() + 1000);
            reserved[i] = 1;
          }
          default -> throw new IllegalStateException(check.kind().toString());
        }
      }
      put(records, recordKey, new Reservation(request.metered() ? Reservation.HELD : Reservation.COUNTED, request.user(), tier,
          request.reservedTokens(), request.reservedCostMicros(), checks, reserved, now),
          now + options.recordTtlMs(request.metered()));
      stats.add("requests", 1);
      stats.add(field(requestsFields, "requests:", tier), 1);
      if (!allPassed) {
        stats.add("shadowThrottled", 1);
      }
    } else {
      boolean never = false;
      for (Evaluation e : evaluations) {
        never |= e.neverPassable();
      }
      stats.add(never ? "rejected" : "throttled", 1);
      if (!never) {
        stats.add(field(throttledFields, "throttled:", tier), 1);
      }
    }
    put(statsKey, stats, statsExpiry);

    List<CheckOutcome> outcomes = new ArrayList<>(n);
    for (Evaluation e : evaluations) {
      outcomes.add(e.outcome(committed));
    }
    return DecisionAssembler.assemble(request, checks, outcomes, committed, now);
  }

  private synchronized ReconcileResult reconcileNow(ReconcileRequest request) {
    long now = clockMs.getAsLong();
    sweep(now);
    AdmitRequest admitted = request.admitted();
    PolicyKeys policyKeys = PolicyKeys.of(admitted.policy());
    PolicyRecords records = records(policyKeys, now);
    Entry recordEntry = record(records, admitted.requestId(), now);
    Reservation record = recordEntry == null ? null : (Reservation) recordEntry.value;
    List<Check> checks = LimitPlan.checks(admitted);
    if (request.changesOnlyRecord(checks)) {
      return markReconciled(records, admitted.requestId(), record, now);
    }
    if (record == null) {
      return new ReconcileResult(ReconcileResult.Outcome.UNKNOWN, 0, 0, now);
    }
    if (record.state.equals(Reservation.DONE_STATE)) {
      return new ReconcileResult(ReconcileResult.Outcome.ALREADY_RECONCILED, 0, 0, now);
    }
    if (!record.state.equals(Reservation.HELD)) {
      return new ReconcileResult(ReconcileResult.Outcome.UNKNOWN, 0, 0, now);
    }

    long actualTokens = request.actualTokens();
    long actualCost = request.actualCostMicros();
    for (int i = 0; i < checks.size(); i++) {
      Check check = checks.get(i);
      int charged = check.reconciled() ? record.indexOf(check.key(), i) : -1;
      if (charged < 0) {
        continue;
      }
      String key = check.key();
      long actual = check.unit() == Dimension.Unit.TOKENS ? actualTokens : actualCost;
      Entry entry = live(key, now);
      switch (check.kind()) {
        case LEASE -> {
          if (entry != null) {
            Leases leases = (Leases) entry.value;
            leases.expiries.remove(admitted.requestId());
            if (leases.expiries.isEmpty()) {
              data.remove(key); // as Redis deletes an emptied sorted set
            }
          }
        }
        case BUCKET -> {
          if (actual != record.reserved[charged]) { // as reconcile.lua: a bucket left unchanged is not written
            Bucket bucket = entry == null ? null : (Bucket) entry.value;
            long occupancy = bucket == null ? 0
                : TokenBucket.drained(bucket.lastMs, bucket.occupancy, now, check.limit());
            long next = TokenBucket.recharged(occupancy, record.reserved[charged], actual, check.periodMs());
            setBucket(entry, key, now, next, now + TokenBucket.ttlMs(next, check.limit()));
          }
        }
        case QUOTA -> {
          long reserved = record.reserved[charged];
          long end = check.quotaEndMs(now);
          Quota quota = entry == null ? null : (Quota) entry.value;
          String periodId = check.quotaPeriodId(quota == null ? null : quota.periodId, now);
          long count = quota == null ? 0 : check.quotaCount(quota.periodId, quota.count, now);
          long next = CalendarQuota.recharged(count, reserved, actual,
              check.quotaStillCounts(record.admittedAtMs, quota == null ? null : quota.periodId, now));
          setQuota(entry, key, periodId, next, now + CalendarQuota.ttlMs(now, end));
        }
        default -> throw new IllegalStateException(check.kind().toString());
      }
    }
    // as reconcile.lua: a reconciled record keeps only its state (nothing reads the rest again),
    // here its id and expiry
    records.byId.remove(admitted.requestId());
    records.reconciled.add(admitted.requestId(), now + options.reconciledTtlMs());

    CalendarPeriod statsPeriod = LimitPlan.statsPeriod(admitted.policy());
    PolicyKeys.Stats keys = policyKeys.stats(statsPeriod.id(now));
    long statsExpiry = statsPeriod.endMs(now) + options.statsRetentionMs();
    String user = record.user;
    if (request.estimated() || actualCost > 0) {
      Counts stats = counts(keys.stats(), now);
      if (request.estimated()) {
        stats.add("estimated", 1);
      }
      if (actualCost > 0) {
        stats.add("spendMicros", actualCost);
      }
      put(keys.stats(), stats, statsExpiry);
    }
    if (actualCost > 0) {
      Entry top = live(keys.topUsers(), now);
      Zset spend = top != null && top.value instanceof Zset z ? z : new Zset();
      spend.add(user, actualCost);
      put(keys.topUsers(), spend, statsExpiry);
    }
    if (actualTokens > 0) {
      Counts tokens = counts(keys.topUserTokens(), now);
      tokens.add(user, actualTokens);
      put(keys.topUserTokens(), tokens, statsExpiry);
    }
    if (actualCost > 0 || actualTokens > 0) {
      Entry found = live(keys.topUserTiers(), now);
      Hash tiers = found != null && found.value instanceof Hash h ? h : new Hash();
      tiers.fields.put(user, record.tier);
      put(keys.topUserTiers(), tiers, statsExpiry);
    }
    return new ReconcileResult(ReconcileResult.Outcome.RECONCILED, actualTokens - record.tokens,
        actualCost - record.cost, now);
  }

  /**
   * As RedisLimiterStore does for a reconcile that changes nothing but the record ({@code SET <record>
   * done PX <ttl> XX GET}): any record becomes {@code done} for the reconciled TTL; the one it was tells
   * the outcome (none: UNKNOWN, done: ALREADY_RECONCILED, held: RECONCILED with nothing given back,
   * anything else: UNKNOWN, as reconcile.lua answers it).
   */
  private ReconcileResult markReconciled(PolicyRecords records, String requestId, Reservation record, long now) {
    if (record == null) {
      return new ReconcileResult(ReconcileResult.Outcome.UNKNOWN, 0, 0, now);
    }
    records.byId.remove(requestId);
    records.reconciled.add(requestId, now + options.reconciledTtlMs());
    if (record.state.equals(Reservation.DONE_STATE)) {
      return new ReconcileResult(ReconcileResult.Outcome.ALREADY_RECONCILED, 0, 0, now);
    }
    return new ReconcileResult(record.state.equals(Reservation.HELD) ? ReconcileResult.Outcome.RECONCILED
        : ReconcileResult.Outcome.UNKNOWN, 0, 0, now);
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
    PolicyKeys policyKeys = PolicyKeys.of(admitted.policy());
    PolicyRecords records = records(policyKeys, now);
    Entry recordEntry = record(records, admitted.requestId(), now);
    if (recordEntry == null) {
      put(records.byId, admitted.requestId(), Reservation.SETTLED, now + options.reservationTtlMs());
      return;
    }
    Reservation record = (Reservation) recordEntry.value;
    if (!record.state.equals(Reservation.HELD) && !record.state.equals(Reservation.COUNTED)) {
      return;
    }
    List<Check> checks = LimitPlan.checks(admitted);
    for (int i = 0; i < checks.size(); i++) {
      Check check = checks.get(i);
      int was = record.indexOf(check.key(), i);
      if (was < 0) {
        continue;
      }
      String key = check.key();
      Entry entry = live(key, now);
      switch (check.kind()) {
        case LEASE -> {
          if (entry != null) {
            Leases leases = (Leases) entry.value;
            leases.expiries.remove(admitted.requestId());
            if (leases.expiries.isEmpty()) {
              data.remove(key);
            }
          }
        }
        case BUCKET -> {
          Bucket bucket = entry == null ? null : (Bucket) entry.value;
          long occupancy = bucket == null ? 0 : TokenBucket.drained(bucket.lastMs, bucket.occupancy, now, check.limit());
          long next = Math.max(0, occupancy - record.reserved[was] * check.periodMs());
          setBucket(entry, key, now, next, now + TokenBucket.ttlMs(next, check.limit()));
        }
        case QUOTA -> {
          long reserved = record.reserved[was];
          Quota quota = entry == null ? null : (Quota) entry.value;
          if (quota != null && check.quotaStillCounts(record.admittedAtMs, quota.periodId, now)) {
            long end = check.quotaEndMs(now);
            long count = check.quotaCount(quota.periodId, quota.count, now);
            setQuota(entry, key, check.quotaPeriodId(quota.periodId, now), Math.max(0, count - reserved),
                now + CalendarQuota.ttlMs(now, end));
          }
        }
        default -> throw new IllegalStateException(check.kind().toString());
      }
    }
    CalendarPeriod statsPeriod = LimitPlan.statsPeriod(admitted.policy());
    String statsKey = policyKeys.stats(statsPeriod.id(now)).stats();
    Counts stats = counts(statsKey, now);
    stats.add("requests", -1);
    if (stats.get("requests") < 0) {
      stats.set("requests", 0);
    }
    stats.add("refunded", 1);
    put(statsKey, stats, statsPeriod.endMs(now) + options.statsRetentionMs());
    record.state = Reservation.SETTLED_STATE;
    recordEntry.expiresAtMs = now + options.reservationTtlMs();
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
    records.values().forEach(policy -> {
      policy.byId.forEach((requestId, entry) -> {
        if (entry.expiresAtMs >= now) {
          out.put(policy.keys.reservation(requestId), entry.value.render());
        }
      });
      policy.reconciled.forEachLive(now,
          (requestId, expiresAtMs) -> out.put(policy.keys.reservation(requestId), Reservation.DONE.render()));
    });
    return out;
  }

  /** What the store holds now, expired or not: for tests of its memory. */
  synchronized Retained retained() {
    int held = 0;
    int reconciled = 0;
    int reconciledCapacity = 0;
    for (PolicyRecords policy : records.values()) {
      held += policy.byId.size();
      reconciled += policy.reconciled.size();
      reconciledCapacity += policy.reconciled.capacity();
    }
    return new Retained(data.size(), held, reconciled, reconciledCapacity);
  }

  /**
   * @param counters counters and statistics keys
   * @param records reservation records not reconciled (held, requests-only, settled)
   * @param reconciled reconciled records (ids and expiries)
   * @param reconciledCapacity ids the reconciled records' arrays have room for
   */
  record Retained(int counters, int records, int reconciled, int reconciledCapacity) {}

  /**
   * The reservation records of a policy, after dropping a few of its reconciled ids expired at
   * {@code now} (an operation adds at most one, so they do not pile up while the policy is used).
   */
  private PolicyRecords records(PolicyKeys policyKeys, long now) {
    PolicyRecords policy = records.computeIfAbsent(policyKeys.redisKeys().prefix(),
        prefix -> new PolicyRecords(policyKeys.redisKeys()));
    policy.reconciled.purge(now, PURGE_STEPS);
    return policy;
  }

  /**
   * The live record of {@code requestId}. A reconciled one is {@link Reservation#DONE} in an entry made
   * for the caller: changing that entry changes nothing kept (a reconciled record is never changed).
   */
  private static Entry record(PolicyRecords policy, String requestId, long now) {
    Entry entry = live(policy.byId, requestId, now);
    if (entry != null) {
      return entry;
    }
    long until = policy.reconciled.liveUntil(requestId, now);
    return until == ReconciledIds.NONE ? null : new Entry(Reservation.DONE, until);
  }

  /** The entry under {@code key} unless it expired (then it is dropped, as Redis would). */
  private Entry live(String key, long now) {
    return live(data, key, now);
  }

  private static Entry live(Map<String, Entry> map, String key, long now) {
    Entry entry = map.get(key);
    if (entry == null) {
      return null;
    }
    if (entry.expiresAtMs < now) {
      map.remove(key);
      return null;
    }
    return entry;
  }

  private Counts counts(String key, long now) {
    Entry entry = live(key, now);
    return entry != null && entry.value instanceof Counts c ? c : new Counts();
  }

  private void put(String key, Value value, long expiresAtMs) {
    put(data, key, value, expiresAtMs);
  }

  private static void put(Map<String, Entry> map, String key, Value value, long expiresAtMs) {
    Entry entry = map.get(key);
    if (entry == null) {
      map.put(key, new Entry(value, expiresAtMs));
    } else {
      entry.value = value;
      entry.expiresAtMs = expiresAtMs;
    }
  }

  /** Writes a bucket's state into {@code entry} (the live entry of {@code key}, or null). */
  private void setBucket(Entry entry, String key, long lastMs, long occupancy, long expiresAtMs) {
    if (entry != null && entry.value instanceof Bucket bucket) {
      bucket.lastMs = lastMs;
      bucket.occupancy = occupancy;
      entry.expiresAtMs = expiresAtMs;
    } else {
      put(key, new Bucket(lastMs, occupancy), expiresAtMs);
    }
  }

  /** Writes a quota's state into {@code entry} (the live entry of {@code key}, or null). */
  private void setQuota(Entry entry, String key, String periodId, long count, long expiresAtMs) {
    if (entry != null && entry.value instanceof Quota quota) {
      quota.periodId = periodId;
      quota.count = count;
      entry.expiresAtMs = expiresAtMs;
    } else {
      put(key, new Quota(periodId, count), expiresAtMs);
    }
  }

  /** {@code prefix + tier}, built once per tier. */
  private static String field(Map<String, String> memo, String prefix, String tier) {
    String field = memo.get(tier);
    if (field == null) {
      field = prefix + tier;
      memo.put(tier, field);
    }
    return field;
  }

  /**
   * Every {@link #SWEEP_EVERY} operations: drops expired counters and records, every policy's expired
   * reconciled ids (those of a policy no longer used too), and copies a map that has shrunk to a
   * quarter of its high mark into a smaller one (a {@link HashMap}'s table never shrinks).
   */
  private void sweep(long now) {
    if (++operations % SWEEP_EVERY == 0) {
      dataHighMark = Math.max(dataHighMark, data.size());
      data.values().removeIf(entry -> entry.expiresAtMs < now);
      if (dataHighMark > SHRINK_ABOVE && data.size() <= dataHighMark / 4) {
        data = new HashMap<>(data);
        dataHighMark = data.size();
      }
      for (PolicyRecords policy : records.values()) {
        policy.byIdHighMark = Math.max(policy.byIdHighMark, policy.byId.size());
        policy.byId.values().removeIf(entry -> entry.expiresAtMs < now);
        if (policy.byIdHighMark > SHRINK_ABOVE && policy.byId.size() <= policy.byIdHighMark / 4) {
          policy.byId = new HashMap<>(policy.byId);
          policy.byIdHighMark = policy.byId.size();
        }
        policy.reconciled.purge(now, Integer.MAX_VALUE);
      }
      records.values().removeIf(policy -> policy.byId.isEmpty() && policy.reconciled.size() == 0);
    }
  }

  /**
   * The reservation records under one policy's keys ({@link RedisKeys#reservation}): by request id,
   * and the reconciled ones apart, as ids and expiries.
   */
  private static final class PolicyRecords {
    final RedisKeys keys;
    Map<String, Entry> byId = new HashMap<>();
    int byIdHighMark;
    final ReconciledIds reconciled = new ReconciledIds();

    PolicyRecords(RedisKeys keys) {
      this.keys = keys;
    }
  }

  /** A key's value and when it expires; both change in place as Redis overwrites a key and its TTL. */
  private static final class Entry {
    Value value;
    long expiresAtMs;

    Entry(Value value, long expiresAtMs) {
      this.value = value;
      this.expiresAtMs = expiresAtMs;
    }
  }

  private sealed interface Value permits Bucket, Quota, Leases, Hash, Counts, Zset, Reservation {
    String render();
  }

  /** As {@code admit.lua}'s STRING {@code <lastMs>:<occupancy>}. */
  private static final class Bucket implements Value {
    long lastMs;
    long occupancy;

    Bucket(long lastMs, long occupancy) {
      this.lastMs = lastMs;
      this.occupancy = occupancy;
    }

    @Override
    public String render() {
      return lastMs + ":" + occupancy;
    }
  }

  /** As {@code admit.lua}'s STRING {@code <periodId>:<count>}. */
  private static final class Quota implements Value {
    String periodId;
    long count;

    Quota(String periodId, long count) {
      this.periodId = periodId;
      this.count = count;
    }

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

  /** A HASH of text fields. */
  private static final class Hash implements Value {
    final Map<String, String> fields = new HashMap<>();

    @Override
    public String render() {
      return new TreeMap<>(fields).toString();
    }
  }

  /** A HASH of integer fields, as {@code HINCRBY} keeps them. */
  private static final class Counts implements Value {
    final Map<String, long[]> fields = new HashMap<>();

    void add(String field, long by) {
      addTo(fields, field, by);
    }

    long get(String field) {
      long[] cell = fields.get(field);
      return cell == null ? 0 : cell[0];
    }

    void set(String field, long value) {
      fields.put(field, new long[] {value});
    }

    @Override
    public String render() {
      return renderLongs(fields);
    }
  }

  /** A ZSET of integer scores, as {@code ZINCRBY} keeps them. */
  private static final class Zset implements Value {
    final Map<String, long[]> scores = new HashMap<>();

    void add(String member, long by) {
      addTo(scores, member, by);
    }

    @Override
    public String render() {
      return renderLongs(scores);
    }
  }

  /** {@code HINCRBY}/{@code ZINCRBY} on a map of integer cells. */
  private static void addTo(Map<String, long[]> cells, String name, long by) {
    long[] cell = cells.get(name);
    if (cell == null) {
      cells.put(name, new long[] {by});
    } else {
      cell[0] += by;
    }
  }

  private static String renderLongs(Map<String, long[]> cells) {
    Map<String, Long> sorted = new TreeMap<>();
    cells.forEach((field, cell) -> sorted.put(field, cell[0]));
    return sorted.toString();
  }

  /**
   * As {@code admit.lua}'s reservation record, a STRING {@code <state> <admittedAtMs> <tokens> <cost>
   * <tier> <user>} while held or counted (common.lua, record_write), only the state once reconciled or
   * given back. What each counter was charged is kept per check as well (what {@code admit.lua} derives
   * from the request's checks again). A reconciled record, and the tombstone of a refund that came
   * first, keep only their state (shared instances, never changed).
   */
  private static final class Reservation implements Value {
    static final String HELD = "held";
    static final String COUNTED = "counted";
    static final String DONE_STATE = "done";
    static final String SETTLED_STATE = "settled";
    static final Reservation DONE = new Reservation(DONE_STATE, null, null, 0, 0, null, null, 0);
    static final Reservation SETTLED = new Reservation(SETTLED_STATE, null, null, 0, 0, null, null, 0);

    String state;
    final String user;
    final String tier;
    final long tokens;
    final long cost;
    final List<Check> checks;
    final long[] reserved;
    final long admittedAtMs;

    Reservation(String state, String user, String tier, long tokens, long cost, List<Check> checks, long[] reserved,
        long admittedAtMs) {
      this.state = state;
      this.user = user;
      this.tier = tier;
      this.tokens = tokens;
      this.cost = cost;
      this.checks = checks;
      this.reserved = reserved;
      this.admittedAtMs = admittedAtMs;
    }

    /** Where the record keeps the charge of counter {@code key} ({@code hint}: where it most likely is), or -1. */
    int indexOf(String key, int hint) {
      if (checks == null) {
        return -1;
      }
      if (hint < checks.size() && checks.get(hint).key().equals(key)) {
        return hint;
      }
      for (int i = checks.size() - 1; i >= 0; i--) {
        if (checks.get(i).key().equals(key)) {
          return i;
        }
      }
      return -1;
    }

    @Override
    public String render() {
      if (!state.equals(HELD) && !state.equals(COUNTED)) {
        return state;
      }
      return state + " " + admittedAtMs + " " + tokens + " " + cost + " " + tier + " " + user;
    }
  }
}
