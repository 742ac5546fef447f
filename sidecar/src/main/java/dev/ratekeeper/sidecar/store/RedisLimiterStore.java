package dev.ratekeeper.sidecar.store;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.periods.CalendarPeriod;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.AdmitScriptCall;
import dev.ratekeeper.sidecar.limiter.Check;
import dev.ratekeeper.sidecar.limiter.CheckOutcome;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.DecisionAssembler;
import dev.ratekeeper.sidecar.limiter.DuplicateRequestException;
import dev.ratekeeper.sidecar.limiter.LimitPlan;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import dev.ratekeeper.sidecar.limiter.PolicyKeys;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.limiter.ReconcileResult;
import io.vertx.core.Future;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The limiter shared by every sidecar of a policy: each admit and reconcile is decided in one
 * {@code EVALSHA} of {@code lua/admit.lua} / {@code lua/reconcile.lua}, deciding and charging every
 * counter in one atomic step on Redis' clock; the calls made while earlier ones are in flight go
 * together, as one batch ({@link ScriptBatcher}). Keys: docs/redis-keys.md.
 *
 * <p>Usage statistics live under keys named by their period ({@code stats:2026-11}), which the
 * script must be told in KEYS before it can read Redis' clock. The store remembers the period the
 * script last reported; when the period has changed (or at the first call) the script answers
 * "wrong period" without touching anything and the call is repeated with the right keys: one extra
 * round trip per period and sidecar.
 */
public final class RedisLimiterStore implements LimiterStore {
  private static final int PERIOD_ATTEMPTS = 3;
  /** A script's reply status for one request of a batch that failed alone ({@code {-3, now, message}}). */
  private static final long FAILED = -3;

  private final Function<Request, Future<Response>> send;
  private final LimiterOptions options;
  private final RedisTime time;
  private final LuaScript admitScript = LuaScript.named("admit");
  private final LuaScript reconcileScript = LuaScript.named("reconcile");
  private final LuaScript settleScript = LuaScript.named("settle");
  private final Map<CalendarPeriod, String> statsPeriods = new ConcurrentHashMap<>();
  private final ScriptBatcher admits;
  private final ScriptBatcher reconciles;

  private RedisLimiterStore(Function<Request, Future<Response>> send, LimiterOptions options, RedisTime time) {
    this.send = send;
    this.options = options;
    this.time = time;
    this.admits = new ScriptBatcher(admitScript, send);
    this.reconciles = new ScriptBatcher(reconcileScript, send);
  }

  /** Through the sidecar's {@link RedisLink} (what production runs). Production time: {@link RedisTime#server()}. */
  public static RedisLimiterStore create(RedisLink link, LimiterOptions options, RedisTime time) {
    return new RedisLimiterStore(link::send, options, time);
  }

  /** Through a Vert.x Redis client (pooled, reconnecting). */
  public static RedisLimiterStore create(Redis redis, LimiterOptions options, RedisTime time) {
    return new RedisLimiterStore(redis::send, options, time);
  }

  /** Through any sender: for tests that put a delay or a fault between the store and Redis. */
  public static RedisLimiterStore create(Function<Request, Future<Response>> send, LimiterOptions options,
      RedisTime time) {
    return new RedisLimiterStore(send, options, time);
  }

  /** Through one connection (pipelined; its owner reconnects it). */
  public static RedisLimiterStore create(RedisConnection connection, LimiterOptions options, RedisTime time) {
    return new RedisLimiterStore(connection::send, options, time);
  }

  /** {@code SCRIPT LOAD} of every script; call once at start (calls load them on NOSCRIPT anyway). */
  public Future<Void> loadScripts() {
    return loadScripts(send);
  }

  /** {@code SCRIPT LOAD} of every script through {@code via} (a connection being warmed up). */
  public static Future<Void> loadScripts(Function<Request, Future<Response>> via) {
    return LuaScript.named("admit").load(via).compose(v -> LuaScript.named("reconcile").load(via))
        .compose(v -> LuaScript.named("settle").load(via));
  }

  /** SHA-1 of the admit script as loaded (for the benchmark's side-by-side {@code redis-benchmark EVALSHA}). */
  public String admitScriptSha() {
    return admitScript.sha();
  }

  @Override
  public Future<Decision> admit(AdmitRequest request) {
    List<Check> checks = LimitPlan.checks(request);
    return admit(request, checks, LimitPlan.statsPeriod(request.policy()), 1);
  }

  private Future<Decision> admit(AdmitRequest request, List<Check> checks, CalendarPeriod statsPeriod, int attempt) {
    Heads heads = heads(request.policy(), statsPeriod);
    AdmitScriptCall call = AdmitScriptCall.of(request, checks, heads.admit.keys(), heads.admit.args(), options);
    return admits.submit(heads.admit, call.ownKeys(), call.ownArgs())
        .compose(reply -> {
          long status = reply.get(0).toLong();
          if (status == -1) {
            return retryInPeriod(statsPeriod, reply, attempt, () -> admit(request, checks, statsPeriod, attempt + 1));
          }
          if (status == -2) {
            return Future.failedFuture(new DuplicateRequestException(request.requestId()));
          }
          if (status == FAILED) {
            return Future.failedFuture(new IllegalStateException("admit.lua failed: " + reply.get(2)));
          }
          List<Long> numbers = new ArrayList<>(reply.size());
          reply.forEach(word -> numbers.add(word.toLong()));
          if (!AdmitScriptCall.decided(numbers, checks.size())) {
            return Future.failedFuture(new IllegalStateException("unexpected admit.lua reply " + reply));
          }
          long now = numbers.get(1);
          boolean committed = numbers.get(2) == 1;
          List<CheckOutcome> outcomes = AdmitScriptCall.outcomes(numbers, checks.size());
          return Future.succeededFuture(DecisionAssembler.assemble(request, checks, outcomes, committed, now));
        });
  }

  /**
   * The {@code EVALSHA} command {@link #admit} sends for {@code request}, word by word, with the
   * statistics period this store last saw: to replay the same script call with redis-benchmark or
   * redis-cli.
   */
  public List<String> admitCommand(AdmitRequest request) {
    List<Check> checks = LimitPlan.checks(request);
    AdmitScriptCall call = admitCall(request, checks,
        statsPeriods.getOrDefault(LimitPlan.statsPeriod(request.policy()), ""));
    List<String> words = new ArrayList<>();
    words.add("EVALSHA");
    words.add(admitScript.sha());
    words.add(Integer.toString(call.keys().size()));
    words.addAll(call.keys());
    words.addAll(call.args());
    return words;
  }

  /** KEYS and ARGV of {@code admit.lua} (see its header). */
  private AdmitScriptCall admitCall(AdmitRequest request, List<Check> checks, String periodId) {
    return AdmitScriptCall.of(request, checks, periodId, time.mode(), time.value(), options);
  }

  /**
   * Whether Redis takes {@code SET ... GET} (6.2 and later); a Redis that answers it with a syntax
   * error gets {@code reconcile.lua} for every reconcile from then on.
   */
  private volatile boolean setGetAnswered = true;

  /**
   * {@code reconcile.lua}, or, for a request whose reconcile would change nothing but its record
   * ({@link ReconcileRequest#changesOnlyRecord}), one plain {@code SET <record> done PX <ttl> XX GET}:
   * the record ends as the script leaves it, and its previous value gives the script's outcome.
   */
  @Override
  public Future<ReconcileResult> reconcile(ReconcileRequest request) {
    List<Check> all = LimitPlan.checks(request.admitted());
    if (request.changesOnlyRecord(all) && setGetAnswered) {
      return markReconciled(request.admitted()).recover(err -> {
        if (err.getMessage() == null || !err.getMessage().contains("syntax error")) {
          return Future.failedFuture(err);
        }
        // a Redis before 6.2 knows no SET ... GET: reconcile.lua does the same, from now on always
        setGetAnswered = false;
        return scriptReconcile(request, all);
      });
    }
    return scriptReconcile(request, all);
  }

  private Future<ReconcileResult> scriptReconcile(ReconcileRequest request, List<Check> all) {
    List<Check> checks = new ArrayList<>(all.size());
    for (Check check : all) {
      if (check.reconciled()) {
        checks.add(check);
      }
    }
    return reconcile(request, checks, LimitPlan.statsPeriod(request.admitted().policy()), 1);
  }

  /**
   * What reconcile.lua does to a request that reserved nothing and used nothing: its record, if any,
   * becomes {@code done} for {@link LimiterOptions#reconciledTtlMs()}. The previous value tells the
   * outcome: none (UNKNOWN), {@code done} (ALREADY_RECONCILED), held (RECONCILED, nothing to give back).
   * The sidecar reconciles only admissions it charged and used (held records): a requests-only
   * ({@code counted}) or given-back ({@code settled}) record is never reconciled, so overwriting one
   * here cannot happen in practice; it is answered UNKNOWN, as the script would.
   */
  private Future<ReconcileResult> markReconciled(AdmitRequest admitted) {
    String record = PolicyKeys.of(admitted.policy()).redisKeys().reservation(admitted.requestId());
    Request set = Request.cmd(Command.SET).arg(record).arg("done").arg("PX").arg(options.reconciledTtlMs()).arg("XX")
        .arg("GET");
    return send.apply(set).map(previous -> {
      long now = time.approximateNowMs();
      String was = previous == null ? null : previous.toString();
      if (was == null) {
        return new ReconcileResult(ReconcileResult.Outcome.UNKNOWN, 0, 0, now);
      }
      if (was.equals("done")) {
        return new ReconcileResult(ReconcileResult.Outcome.ALREADY_RECONCILED, 0, 0, now);
      }
      if (was.startsWith("held ")) {
        return new ReconcileResult(ReconcileResult.Outcome.RECONCILED, 0, 0, now);
      }
      return new ReconcileResult(ReconcileResult.Outcome.UNKNOWN, 0, 0, now);
    });
  }

  private Future<ReconcileResult> reconcile(ReconcileRequest request, List<Check> checks, CalendarPeriod statsPeriod,
      int attempt) {
    AdmitRequest admitted = request.admitted();
    ScriptBatcher.Head head = heads(admitted.policy(), statsPeriod).reconcile;
    List<String> keyList = new ArrayList<>(1 + checks.size());
    keyList.add(PolicyKeys.of(admitted.policy()).redisKeys().reservation(admitted.requestId()));
    List<String> args = new ArrayList<>(5 + 5 * checks.size());
    args.add(admitted.requestId());
    args.add(Long.toString(request.actualTokens()));
    args.add(Long.toString(request.actualCostMicros()));
    args.add(request.estimated() ? "1" : "0");
    args.add(Integer.toString(checks.size()));
    for (Check check : checks) {
      keyList.add(check.key());
      args.add(String.valueOf(check.kind().code()));
      args.add(String.valueOf(check.unit().code()));
      args.add(Long.toString(check.limit()));
      addPeriodArgs(args, check);
    }
    return reconciles.submit(head, keyList, args).compose(reply -> {
      long status = reply.get(0).toLong();
      long now = reply.get(1).toLong();
      return switch ((int) status) {
        case -1 -> retryInPeriod(statsPeriod, reply, attempt, () -> reconcile(request, checks, statsPeriod, attempt + 1));
        case 0 -> Future.succeededFuture(new ReconcileResult(ReconcileResult.Outcome.UNKNOWN, 0, 0, now));
        case 2 -> Future.succeededFuture(new ReconcileResult(ReconcileResult.Outcome.ALREADY_RECONCILED, 0, 0, now));
        case (int) FAILED -> Future.failedFuture(new IllegalStateException("reconcile.lua failed: " + reply.get(2)));
        case 1 -> Future.succeededFuture(new ReconcileResult(ReconcileResult.Outcome.RECONCILED,
            reply.get(2).toLong(), reply.get(3).toLong(), now));
        default -> Future.failedFuture(new IllegalStateException("unexpected reconcile.lua reply " + reply));
      };
    });
  }

  /**
   * {@code settle.lua}: gives back whatever the admission of {@code admitted} charged, if Redis holds
   * it (its answer came too late to be used), and with {@code charge} adds the usage of a request
   * served while Redis was unavailable (quotas and budgets in full, buckets up to empty). Idempotent;
   * see the script's header.
   */
  public Future<SettleResult> settle(AdmitRequest admitted, long actualTokens, long actualCostMicros, boolean charge) {
    return settle(admitted, actualTokens, actualCostMicros, charge, LimitPlan.statsPeriod(admitted.policy()), 1);
  }

  @Override
  public Future<Void> refund(AdmitRequest admitted) {
    return settle(admitted, 0, 0, false).mapEmpty();
  }

  /** What {@link #settle} did: gave back a held admission, and/or added the usage. */
  public record SettleResult(boolean refunded, boolean charged) {}

  private Future<SettleResult> settle(AdmitRequest admitted, long actualTokens, long actualCostMicros, boolean charge,
      CalendarPeriod statsPeriod, int attempt) {
    List<Check> checks = LimitPlan.checks(admitted);
    String periodId = statsPeriods.getOrDefault(statsPeriod, "");
    List<String> keyList = settlementKeys(admitted, periodId, checks.size());
    List<String> args = new ArrayList<>(13 + 6 * checks.size());
    addSettlementHead(args, statsPeriod, periodId, admitted);
    args.add(admitted.user());
    args.add(admitted.tier().name());
    args.add(charge ? "1" : "0");
    args.add(Long.toString(actualTokens));
    args.add(Long.toString(actualCostMicros));
    args.add(Long.toString(options.reservationTtlMs()));
    args.add(Long.toString(options.statsRetentionMs()));
    args.add(Integer.toString(checks.size()));
    for (Check check : checks) {
      AdmitScriptCall.addCheck(keyList, args, check);
    }
    return settleScript.call(send, keyList, args).compose(reply -> {
      long status = reply.get(0).toLong();
      if (status == -1) {
        return retryInPeriod(statsPeriod, reply, attempt,
            () -> settle(admitted, actualTokens, actualCostMicros, charge, statsPeriod, attempt + 1));
      }
      if (status != 1) {
        return Future.failedFuture(new IllegalStateException("unexpected settle.lua reply " + reply));
      }
      return Future.succeededFuture(new SettleResult(reply.get(2).toLong() == 1, reply.get(3).toLong() == 1));
    });
  }

  /**
   * KEYS[1..5] of settle.lua: the request's record, then the statistics keys ({@link PolicyKeys.Stats#scriptKeys});
   * the checks' counters follow.
   */
  private static List<String> settlementKeys(AdmitRequest admitted, String periodId, int checks) {
    List<String> keyList = new ArrayList<>(5 + checks);
    PolicyKeys keys = PolicyKeys.of(admitted.policy());
    keyList.add(keys.redisKeys().reservation(admitted.requestId()));
    keyList.addAll(keys.stats(periodId).scriptKeys());
    return keyList;
  }

  /**
   * The KEYS and ARGV every call of a batch shares, for the admit and the reconcile script: the same
   * for every request of one policy revision, statistics period and clock value, so built once for
   * them, not per request (the last ones built are kept; a new revision, period or clock value builds
   * the next).
   */
  private record Heads(PolicyKeys.Stats stats, String timeValue, ScriptBatcher.Head admit,
      ScriptBatcher.Head reconcile) {}

  private volatile Heads heads;

  private Heads heads(CompiledPolicy policy, CalendarPeriod statsPeriod) {
    String periodId = statsPeriods.getOrDefault(statsPeriod, "");
    PolicyKeys.Stats stats = PolicyKeys.of(policy).stats(periodId); // one object per revision and period
    String timeValue = time.value();
    Heads found = heads;
    if (found != null && found.stats == stats && found.timeValue.equals(timeValue)) {
      return found;
    }
    String mode = time.mode();
    Heads made = new Heads(stats, timeValue,
        new ScriptBatcher.Head(stats.admitKeys(), AdmitScriptCall.headArgs(policy, periodId, mode, timeValue, options)),
        new ScriptBatcher.Head(stats.scriptKeys(), List.of(mode, timeValue, String.valueOf(statsPeriod.code()),
            periodId, Long.toString(options.reconciledTtlMs()), Long.toString(options.statsRetentionMs()))));
    heads = made;
    return made;
  }

  /** ARGV[1..5] of settle.lua: the clock, the statistics period, the request id. */
  private void addSettlementHead(List<String> args, CalendarPeriod statsPeriod, String periodId,
      AdmitRequest admitted) {
    args.add(time.mode());
    args.add(time.value());
    args.add(String.valueOf(statsPeriod.code()));
    args.add(periodId);
    args.add(admitted.requestId());
  }

  /** p1, p2 of a check: bucket periodMs and burst; quota period code (I and idle ms for a run); nothing for leases. */
  private static void addPeriodArgs(List<String> args, Check check) {
    AdmitScriptCall.addPeriodArgs(args, check);
  }

  private <T> Future<T> retryInPeriod(CalendarPeriod statsPeriod, Response reply, int attempt,
      Supplier<Future<T>> retry) {
    statsPeriods.put(statsPeriod, reply.get(2).toString());
    if (attempt >= PERIOD_ATTEMPTS) {
      return Future.failedFuture(new IllegalStateException(
          "the stats period kept changing between calls (Redis clock jumping?): " + reply.get(2)));
    }
    return retry.get();
  }
}
