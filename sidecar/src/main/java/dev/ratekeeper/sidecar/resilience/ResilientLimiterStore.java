package dev.ratekeeper.sidecar.resilience;

import dev.ratekeeper.policy.api.StoreFailureMode;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.keys.RedisKeys;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.DuplicateRequestException;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.limiter.ReconcileResult;
import dev.ratekeeper.sidecar.metrics.SidecarMetrics;
import dev.ratekeeper.sidecar.store.InMemoryLimiterStore;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisAPI;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * The Redis store with the policy's {@code onStoreUnavailable} behaviour around it. A Redis call that
 * fails or takes longer than {@link #CALL_TIMEOUT_MS} marks the store down; while it is down:
 * <ul>
 *   <li>{@code FailOpen}: every request is admitted, unmetered;</li>
 *   <li>{@code FailClosed}: admission fails (the proxy answers 503 in the provider's shape);</li>
 *   <li>{@code LocalFallback}: an in-memory store enforces the policy with every limit divided by the
 *       sidecars that were live at the last heartbeat count.</li>
 * </ul>
 * Redis is probed every {@link #PROBE_MS} while down; once it answers, it is used again at once and
 * the usage seen meanwhile is replayed behind the traffic: each call is reconciled under its request
 * id (settling a reservation Redis holds there, its lease included), or, when Redis has no record of
 * it, charged through a shadow admission that reserves nothing followed by a reconcile with what was
 * really used. So budgets and quotas get every token and micro-dollar that was spent, and a
 * reservation Redis made but whose answer came too late (or never) does not keep its lease.
 */
public final class ResilientLimiterStore implements LimiterStore {
  private static final System.Logger LOG = System.getLogger(ResilientLimiterStore.class.getName());
  static final long CALL_TIMEOUT_MS = 250;
  static final long PROBE_MS = 500;
  static final long SIDECAR_COUNT_MS = 2_000;

  private final Vertx vertx;
  private final LimiterStore redisStore;
  private final RedisAPI redis;
  private final Supplier<CompiledPolicy> policy;
  private final SidecarMetrics metrics;
  private final InMemoryLimiterStore local = new InMemoryLimiterStore();
  /** Which requests a store other than Redis admitted: their reconcile goes there and is journaled. */
  private final Map<String, AdmitRequest> admittedLocally = new ConcurrentHashMap<>();
  private final ConcurrentLinkedQueue<Pending> journal = new ConcurrentLinkedQueue<>();

  /** Usage to add to Redis, under the request id it was admitted with (in Redis, or here while Redis was away). */
  private record Pending(ReconcileRequest request) {}
  private final AtomicInteger liveSidecars = new AtomicInteger(1);
  private volatile boolean up = true;
  private final AtomicBoolean replaying = new AtomicBoolean();
  private long probeTimer = -1;
  private final long countTimer;

  public ResilientLimiterStore(Vertx vertx, LimiterStore redisStore, Redis redis, Supplier<CompiledPolicy> policy,
      SidecarMetrics metrics) {
    this.vertx = vertx;
    this.redisStore = redisStore;
    this.redis = RedisAPI.api(redis);
    this.policy = policy;
    this.metrics = metrics;
    countSidecars();
    this.countTimer = vertx.setPeriodic(SIDECAR_COUNT_MS, t -> countSidecars());
  }

  public boolean up() {
    return up;
  }

  /** Live sidecars of the policy at the last count: LocalFallback divides every limit by this. */
  public int liveSidecars() {
    return liveSidecars.get();
  }

  /** Usage waiting to be added to Redis (0 once the replay after an outage is done). */
  public int journaled() {
    return journal.size();
  }

  @Override
  public Future<Decision> admit(AdmitRequest request) {
    if (!up) {
      return degradedAdmit(request);
    }
    return redisStore.admit(request).timeout(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS).recover(error -> {
      if (error instanceof DuplicateRequestException) {
        return Future.failedFuture(error);
      }
      down(error);
      return degradedAdmit(request).andThen(decided -> {
        if (request.metered() && !admittedLocally.containsKey(request.requestId())) {
          // Redis may have admitted it after all (the answer came too late, or was lost with the connection),
          // holding a reservation and a lease under its id that no reconcile will settle: release them later
          journal.add(new Pending(ReconcileRequest.release(request)));
        }
      });
    });
  }

  @Override
  public Future<ReconcileResult> reconcile(ReconcileRequest request) {
    AdmitRequest localAdmission = admittedLocally.remove(request.admitted().requestId());
    if (localAdmission != null) {
      // admitted while Redis was away: settle the local lease and journal the usage for Redis
      journal.add(new Pending(request));
      if (up) {
        drainJournal(); // the call outlived the outage: Redis is back and its replay may be over already
      }
      if (localAdmission.policy().onStoreUnavailable() == StoreFailureMode.FailOpen) {
        return Future.succeededFuture(new ReconcileResult(ReconcileResult.Outcome.UNKNOWN, 0, 0,
            System.currentTimeMillis()));
      }
      return local.reconcile(new ReconcileRequest(localAdmission, request.actualTokens(), request.actualCostMicros()));
    }
    if (!up) {
      journal.add(new Pending(request));
      return Future.succeededFuture(new ReconcileResult(ReconcileResult.Outcome.UNKNOWN, 0, 0, System.currentTimeMillis()));
    }
    return redisStore.reconcile(request).timeout(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS).recover(error -> {
      down(error);
      journal.add(new Pending(request));
      return Future.succeededFuture(new ReconcileResult(ReconcileResult.Outcome.UNKNOWN, 0, 0,
          System.currentTimeMillis()));
    });
  }

  private Future<Decision> degradedAdmit(AdmitRequest request) {
    StoreFailureMode mode = request.policy().onStoreUnavailable();
    switch (mode) {
      case FailClosed:
        return Future.failedFuture(new StoreUnavailableException());
      case FailOpen: {
        if (request.metered()) {
          admittedLocally.put(request.requestId(), request);
        }
        return Future.succeededFuture(new Decision(true, false, List.of(), 0, true, false, List.of(), null, null, null,
            null, null, System.currentTimeMillis()));
      }
      default: {
        CompiledPolicy share = LocalShare.of(request.policy(), liveSidecars.get());
        AdmitRequest scaled = new AdmitRequest(share, request.requestId(), request.user(),
            share.tier(request.tier().name()).orElseThrow(),
            request.model() == null ? null : share.models().stream()
                .filter(m -> m.pattern().equals(request.model().pattern())).findFirst().orElseThrow(),
            request.scope(), request.reservedTokens(), request.reservedCostMicros(), request.shadow());
        return local.admit(scaled).onSuccess(decision -> {
          if (decision.allowed() && request.metered()) {
            admittedLocally.put(request.requestId(), scaled);
          }
        });
      }
    }
  }

  private synchronized void down(Throwable cause) {
    if (up) {
      up = false;
      metrics.storeUp(false);
      LOG.log(System.Logger.Level.WARNING, "Redis unavailable (" + cause + "): "
          + policy.get().onStoreUnavailable() + " until it is back");
      probeTimer = vertx.setPeriodic(PROBE_MS, t -> probe());
    }
  }

  /** While down: is Redis back? Then use it again at once and add the journaled usage behind the traffic. */
  private void probe() {
    redis.ping(List.of()).timeout(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS).onSuccess(pong -> {
      back();
      drainJournal();
    });
  }

  private void drainJournal() {
    if (journal.isEmpty() || !replaying.compareAndSet(false, true)) {
      return;
    }
    Promise<Void> done = Promise.promise();
    replayNext(done);
    done.future().onComplete(result -> {
      replaying.set(false);
      if (result.failed()) {
        LOG.log(System.Logger.Level.WARNING, journal.size() + " usage records not yet added to Redis: " + result.cause());
        vertx.setTimer(PROBE_MS, t -> drainJournal());
      } else if (up && !journal.isEmpty()) {
        drainJournal(); // journaled after the replay found the journal empty
      }
    });
  }

  /**
   * Adds the journaled usage to Redis, oldest first; stops at the first failure and tries again
   * later. Each entry is sent from the completion of the one before, never as a chain of composed
   * futures: a journal of any length (thousands of calls after a long outage) completes without
   * nesting one completion inside the other.
   */
  private void replayNext(Promise<Void> done) {
    Pending next = journal.peek();
    if (next == null) {
      done.complete();
      return;
    }
    Future<ReconcileResult> step = replay(next.request());
    step.timeout(CALL_TIMEOUT_MS * 4, TimeUnit.MILLISECONDS).onComplete(result -> {
      if (result.failed()) {
        done.fail(result.cause());
      } else {
        journal.poll();
        replayNext(done);
      }
    });
  }

  /**
   * One journaled usage: first reconciled under its request id, which settles whatever reservation
   * Redis holds there (admitted by Redis, or by Redis too late to be used: its lease is released and
   * its reservation replaced by the usage); when Redis has no record of it (admitted here while Redis
   * was away, or lost by Redis), a shadow admission reserving nothing, then the usage as an extra charge.
   */
  private Future<ReconcileResult> replay(ReconcileRequest usage) {
    return redisStore.reconcile(usage).compose(settled -> {
      boolean used = usage.actualTokens() > 0 || usage.actualCostMicros() > 0;
      if (settled.outcome() != ReconcileResult.Outcome.UNKNOWN || !used || !usage.admitted().metered()) {
        return Future.succeededFuture(settled);
      }
      AdmitRequest original = usage.admitted();
      AdmitRequest charge = new AdmitRequest(original.policy(), original.requestId() + "-replay", original.user(),
          original.tier(), original.model(), original.scope(), 0, 0, true);
      return redisStore.admit(charge).<Void>mapEmpty()
          // an earlier attempt got this far before failing: the shadow admission is on record already
          .recover(e -> e instanceof DuplicateRequestException ? Future.succeededFuture() : Future.failedFuture(e))
          .compose(v -> redisStore.reconcile(new ReconcileRequest(charge, usage.actualTokens(),
              usage.actualCostMicros())));
    });
  }

  private synchronized void back() {
    if (!up) {
      up = true;
      metrics.storeUp(true);
      if (probeTimer >= 0) {
        vertx.cancelTimer(probeTimer);
        probeTimer = -1;
      }
      LOG.log(System.Logger.Level.INFO, "Redis is back; adding the " + journal.size() + " usage records seen meanwhile");
    }
  }

  private void countSidecars() {
    if (!up) {
      return;
    }
    long now = System.currentTimeMillis();
    RedisKeys keys = new RedisKeys(policy.get().id());
    redis.zcount(keys.sidecars(), Long.toString(now - 15_000), "+inf")
        .onSuccess(count -> liveSidecars.set(Math.max(1, count.toInteger())));
  }

  public void close() {
    vertx.cancelTimer(countTimer);
    if (probeTimer >= 0) {
      vertx.cancelTimer(probeTimer);
    }
  }

  /** Redis is away and the policy says FailClosed. */
  public static final class StoreUnavailableException extends RuntimeException {
    StoreUnavailableException() {
      super("rate-limit store unavailable (onStoreUnavailable: FailClosed)", null, false, false);
    }
  }
}
