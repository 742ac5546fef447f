package dev.ratekeeper.sidecar.resilience;

import dev.ratekeeper.sidecar.time.SidecarClock;
import dev.ratekeeper.policy.api.StoreFailureMode;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.DuplicateRequestException;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.limiter.ReconcileResult;
import dev.ratekeeper.sidecar.metrics.SidecarMetrics;
import dev.ratekeeper.sidecar.store.InMemoryLimiterStore;
import dev.ratekeeper.sidecar.store.RedisLimiterStore;
import dev.ratekeeper.sidecar.store.RedisLink;
import io.vertx.core.AsyncResult;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.redis.client.RedisAPI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * The Redis store with the policy's {@code onStoreUnavailable} behaviour around it.
 *
 * <p><b>Unavailable</b> is decided by the {@link RedisLink} from evidence (a lost connection that
 * cannot be re-opened, or no answer at all for {@link RedisLink#STALL_MS} with commands waiting),
 * never from one slow answer. While Redis is unavailable:
 * <ul>
 *   <li>{@code FailOpen}: every request is admitted, unmetered;</li>
 *   <li>{@code FailClosed}: admission fails (the proxy answers 503 in the provider's shape);</li>
 *   <li>{@code LocalFallback}: an in-memory store enforces the policy with every limit divided by the
 *       sidecars that were live at the last heartbeat count.</li>
 * </ul>
 * Admissions waiting when Redis becomes unavailable get the failure mode at once. One admission
 * whose answer takes longer than {@link #ANSWER_DEADLINE_MS} while Redis keeps answering others gets
 * the failure mode alone; Redis is not judged by it.
 *
 * <p><b>Nothing is charged twice or for nothing.</b> An admission given up on (late, or lost with a
 * connection) is refunded through {@code settle.lua} when its late answer shows it was charged, or,
 * when no answer comes, once Redis is back (the record there decides; a tombstone stops an admission
 * still on its way). Requests served while Redis was away are journaled with their real usage and
 * added by {@code settle.lua} once it is back: budgets and calendar quotas in full, rate buckets only
 * up to empty, so the fleet is never refused after an outage for traffic that is over
 * (docs/reliability.md). Requests admitted by Redis whose reconcile could not be sent are reconciled
 * from the journal the same way.
 *
 * <p>Threading: called from any event loop; the journal and the waiting set are concurrent; each
 * admission completes on the context it was called from.
 */
public final class ResilientLimiterStore implements LimiterStore, RedisLink.Listener {
  private static final System.Logger LOG = System.getLogger(ResilientLimiterStore.class.getName());
  /**
   * Longest one admission waits for Redis' answer while Redis answers others: a safety net only.
   * Lost connections and a silent Redis are noticed by the link within a second; an answer that is
   * merely slow (a loaded node) is waited for, since deciding without it would bypass the limits.
   */
  static final long ANSWER_DEADLINE_MS = 10_000;
  /** Pause before the journal is tried again after a failed replay step. */
  static final long JOURNAL_RETRY_MS = 500;
  /** Journal entries added to Redis at once after an outage (each a script call; pipelined). */
  static final int REPLAY_WINDOW = 64;
  /**
   * Once Redis answers again, the journal is added first, so that the counters hold the outage's
   * traffic before new traffic is decided there; traffic is handed back to Redis when that is done,
   * or after this long at most (a long journal then finishes behind the traffic).
   */
  static final long HANDOVER_MAX_MS = 500;

  private final Vertx vertx;
  private final long answerDeadlineMs;
  private final RedisLimiterStore redisStore;
  private final RedisAPI redis;
  private final Supplier<CompiledPolicy> policy;
  private final SidecarMetrics metrics;
  private final InMemoryLimiterStore local;
  /** Which requests a store other than Redis admitted: their usage goes to the journal. */
  private final Map<String, AdmitRequest> admittedLocally = new ConcurrentHashMap<>();
  private final ConcurrentLinkedQueue<Pending> journal = new ConcurrentLinkedQueue<>();
  private final Set<Waiting> waiting = ConcurrentHashMap.newKeySet();
  /** One replay at a time. */
  private final AtomicBoolean replayRunning = new AtomicBoolean();
  /** Journal entries taken out for the batch being added. */
  private final AtomicInteger replaying = new AtomicInteger();
  private volatile boolean up = true;
  /** Redis answers again and the journal is being added; traffic is still decided by the failure mode. */
  private volatile boolean recovering;
  /** Counts outages: a hand-over meant for one outage never ends a later one. */
  private final AtomicInteger outages = new AtomicInteger();
  /** The outage whose journal is being added while {@code recovering}. */
  private volatile int recoveringOutage;
  private volatile long downSinceMs;
  private final LiveSidecars liveSidecars;
  private final SidecarClock clock;

  /** Work for Redis once it answers again. */
  private sealed interface Pending permits Reconcile, Settle {}

  /** A request Redis admitted whose reconcile could not be sent. */
  private record Reconcile(ReconcileRequest request) implements Pending {}

  /** A refund of an admission given up on ({@code charge} false), or the usage of a request served without Redis. */
  private record Settle(AdmitRequest admitted, long tokens, long costMicros, boolean charge) implements Pending {}

  public ResilientLimiterStore(Vertx vertx, RedisLimiterStore redisStore, RedisAPI redis,
      Supplier<CompiledPolicy> policy, SidecarMetrics metrics, SidecarClock clock) {
    this(vertx, redisStore, redis, policy, metrics, ANSWER_DEADLINE_MS, clock);
  }

  /** With another answer deadline: tests that give up on one admission without waiting real seconds. */
  public ResilientLimiterStore(Vertx vertx, RedisLimiterStore redisStore, RedisAPI redis,
      Supplier<CompiledPolicy> policy, SidecarMetrics metrics, long answerDeadlineMs, SidecarClock clock) {
    this.vertx = vertx;
    this.clock = clock;
    this.local = new InMemoryLimiterStore(dev.ratekeeper.sidecar.limiter.LimiterOptions.DEFAULTS, clock::millis);
    this.answerDeadlineMs = answerDeadlineMs;
    this.redisStore = redisStore;
    this.redis = redis;
    this.policy = policy;
    this.metrics = metrics;
    this.liveSidecars = new LiveSidecars(vertx, redis, policy, clock, () -> up);
  }

  public boolean up() {
    return up;
  }

  /** Live sidecars of the policy at the last count ({@link LiveSidecars}): LocalFallback divides every limit by this. */
  public int liveSidecars() {
    return liveSidecars.get();
  }

  /** Usage and refunds waiting to be added to Redis (0 once the replay after an outage is done). */
  public int journaled() {
    return journal.size() + replaying.get();
  }

  @Override
  public Future<Decision> admit(AdmitRequest request) {
    if (!up) {
      return degradedAdmit(request);
    }
    Waiting admission = new Waiting(request);
    waiting.add(admission);
    admission.timer = vertx.setTimer(answerDeadlineMs, t -> giveUp(admission));
    redisStore.admit(request).onComplete(admission::answered);
    return admission.answer.future();
  }

  /** One admission waiting for Redis' answer; exactly one of answer / give-up decides it. */
  private final class Waiting {
    final AdmitRequest request;
    final Context context = Vertx.currentContext();
    final Promise<Decision> answer = Promise.promise();
    final AtomicBoolean decided = new AtomicBoolean();
    volatile long timer = -1;

    Waiting(AdmitRequest request) {
      this.request = request;
    }

    void answered(AsyncResult<Decision> result) {
      if (decided.compareAndSet(false, true)) {
        waiting.remove(this);
        vertx.cancelTimer(timer);
        if (result.succeeded() || result.cause() instanceof DuplicateRequestException) {
          answer.handle(result);
          return;
        }
        // not answered (connection lost, too busy): whether the script ran is unknown; the record decides
        metrics.storeEvent("late_answer");
        journalRefund(request);
        degradedAdmit(request).onComplete(answer);
        return;
      }
      // too late: the request was served by the failure mode; give back what the script charged
      if (result.failed()) {
        if (!(result.cause() instanceof DuplicateRequestException)) {
          journalRefund(request);
        }
      } else if (result.result().allowed() || result.result().shadow()) {
        journalRefund(request);
      }
    }

    void giveUp() {
      if (!decided.compareAndSet(false, true)) {
        return;
      }
      waiting.remove(this);
      vertx.cancelTimer(timer);
      Runnable degrade = () -> degradedAdmit(request).onComplete(answer);
      if (context == null || context == Vertx.currentContext()) {
        degrade.run();
      } else {
        context.runOnContext(v -> degrade.run());
      }
    }
  }

  private void giveUp(Waiting admission) {
    if (!admission.decided.get()) {
      metrics.storeEvent("late_answer");
      LOG.log(System.Logger.Level.DEBUG, "no answer from Redis within " + answerDeadlineMs + " ms for one admission");
    }
    admission.giveUp();
  }

  @Override
  public Future<ReconcileResult> reconcile(ReconcileRequest request) {
    AdmitRequest localAdmission = admittedLocally.remove(request.admitted().requestId());
    if (localAdmission != null) {
      // served while Redis was away: its usage is added to Redis once it is back
      append(new Settle(request.admitted(), request.actualTokens(), request.actualCostMicros(), true));
      if (localAdmission.policy().onStoreUnavailable() == StoreFailureMode.FailOpen) {
        return Future.succeededFuture(unknown());
      }
      return local.reconcile(new ReconcileRequest(localAdmission, request.actualTokens(), request.actualCostMicros(),
          request.estimated()));
    }
    if (!up) {
      append(new Reconcile(request));
      return Future.succeededFuture(unknown());
    }
    return redisStore.reconcile(request).timeout(answerDeadlineMs, TimeUnit.MILLISECONDS).recover(error -> {
      append(new Reconcile(request)); // reconcile is idempotent: a late first attempt makes the replay a no-op
      return Future.succeededFuture(unknown());
    });
  }

  @Override
  public Future<Void> refund(AdmitRequest admitted) {
    AdmitRequest localAdmission = admittedLocally.remove(admitted.requestId());
    if (localAdmission != null) {
      // admitted while Redis was away: nothing of it reached Redis; give back the local charge
      return localAdmission.policy().onStoreUnavailable() == StoreFailureMode.FailOpen ? Future.succeededFuture()
          : local.refund(localAdmission);
    }
    if (!up) {
      journalRefund(admitted);
      return Future.succeededFuture();
    }
    return redisStore.refund(admitted).timeout(answerDeadlineMs, TimeUnit.MILLISECONDS).recover(error -> {
      journalRefund(admitted); // settle.lua is idempotent: a late first attempt makes the replay a no-op
      return Future.succeededFuture();
    });
  }

  private ReconcileResult unknown() {
    return new ReconcileResult(ReconcileResult.Outcome.UNKNOWN, 0, 0, clock.millis());
  }

  private Future<Decision> degradedAdmit(AdmitRequest request) {
    if (request.peek()) {
      return Future.failedFuture(new StoreUnavailableException()); // nothing to show without Redis
    }
    StoreFailureMode mode = request.policy().onStoreUnavailable();
    switch (mode) {
      case FailClosed:
        return Future.failedFuture(new StoreUnavailableException());
      case FailOpen: {
        if (request.metered()) {
          admittedLocally.put(request.requestId(), request);
        }
        return Future.succeededFuture(new Decision(true, false, List.of(), 0, true, false, List.of(), null, null, null,
            null, null, clock.millis()));
      }
      default: {
        CompiledPolicy share = LocalShare.of(request.policy(), liveSidecars.get());
        AdmitRequest scaled = new AdmitRequest(share, request.requestId(), request.user(),
            share.tier(request.tier().name()).orElseThrow(),
            request.model() == null ? null : share.models().stream()
                .filter(m -> m.pattern().equals(request.model().pattern())).findFirst().orElseThrow(),
            request.scope(), request.reservedTokens(), request.reservedCostMicros(), request.shadow(), request.run(),
            request.peek(), request.calls());
        return local.admit(scaled).onSuccess(decision -> {
          if (decision.allowed() && request.metered()) {
            admittedLocally.put(request.requestId(), scaled);
          }
        });
      }
    }
  }

  private void journalRefund(AdmitRequest request) {
    if (!request.peek()) { // a peek charges nothing
      append(new Settle(request, 0, 0, false));
    }
  }

  private void append(Pending pending) {
    journal.add(pending);
    if (up || recovering) {
      drainJournal();
    }
  }

  @Override
  public void unavailable(String evidence) {
    synchronized (this) { // one lock for up / recovering / outages: a hand-over never ends a later outage
      up = false;
      recovering = false;
      outages.incrementAndGet();
    }
    downSinceMs = clock.millis();
    metrics.storeUp(false);
    metrics.storeEvent("outage");
    LOG.log(System.Logger.Level.WARNING, "Redis unavailable (" + evidence + "): " + policy.get().onStoreUnavailable()
        + " until it is back");
    for (Waiting admission : List.copyOf(waiting)) {
      admission.giveUp();
    }
  }

  @Override
  public void available() {
    LOG.log(System.Logger.Level.INFO, "Redis is back after " + (clock.millis() - downSinceMs)
        + " ms; adding the " + journal.size() + " usage records and refunds seen meanwhile");
    int outage;
    synchronized (this) {
      outage = outages.get();
      recoveringOutage = outage;
      recovering = true;
    }
    if (journaled() == 0) {
      handOver(outage);
      return;
    }
    vertx.setTimer(HANDOVER_MAX_MS, t -> handOver(outage));
    drainJournal();
  }

  /** Traffic is decided by Redis again, unless Redis went away again since {@code outage} ended. */
  private synchronized void handOver(int outage) {
    if (up || outage != outages.get()) {
      return;
    }
    recovering = false;
    up = true;
    metrics.storeUp(true);
    drainJournal(); // whatever is left, behind the traffic
  }

  private void drainJournal() {
    if (journal.isEmpty() || !replayRunning.compareAndSet(false, true)) {
      return;
    }
    Promise<Void> done = Promise.promise();
    replayNext(done);
    done.future().onComplete(result -> {
      replayRunning.set(false);
      if (recovering && journal.isEmpty()) {
        handOver(recoveringOutage);
      }
      if (result.failed()) {
        LOG.log(System.Logger.Level.DEBUG, journal.size() + " usage records not yet added to Redis: " + result.cause());
        vertx.setTimer(JOURNAL_RETRY_MS, t -> {
          if (up || recovering) {
            drainJournal();
          }
        });
      } else if ((up || recovering) && !journal.isEmpty()) {
        drainJournal(); // journaled after the replay found the journal empty
      }
    });
  }

  /**
   * Adds the journal to Redis, oldest first, {@link #REPLAY_WINDOW} entries at a time (each entry is
   * idempotent and independent of the others, so they need no order among themselves); entries that
   * fail go back to the journal and the replay stops, to be tried again later. Each batch is sent from
   * the completion of the one before, never as a chain of composed futures: a journal of any length
   * completes without nesting one completion inside the other.
   */
  private void replayNext(Promise<Void> done) {
    if (!(up || recovering)) {
      done.complete();
      return;
    }
    List<Pending> batch = new ArrayList<>(REPLAY_WINDOW);
    Pending next;
    while (batch.size() < REPLAY_WINDOW && (next = journal.poll()) != null) {
      batch.add(next);
    }
    if (batch.isEmpty()) {
      done.complete();
      return;
    }
    replaying.addAndGet(batch.size());
    List<Future<?>> steps = new ArrayList<>(batch.size());
    for (Pending pending : batch) {
      steps.add(replay(pending).timeout(Math.max(answerDeadlineMs, ANSWER_DEADLINE_MS), TimeUnit.MILLISECONDS)
          .onFailure(e -> journal.add(pending)));
    }
    Future.join(steps).onComplete(result -> {
      replaying.addAndGet(-batch.size());
      if (result.failed()) {
        done.fail(result.cause());
      } else {
        replayNext(done);
      }
    });
  }

  /**
   * One journal entry. A reconcile that finds no record in Redis (Redis lost it: a restart without
   * persistence) adds the usage the way a request served without Redis is added.
   */
  private Future<?> replay(Pending pending) {
    if (pending instanceof Settle settle) {
      return redisStore.settle(settle.admitted(), settle.tokens(), settle.costMicros(), settle.charge())
          .onSuccess(result -> {
            if (result.refunded()) {
              metrics.storeEvent("refunded");
            }
            if (result.charged()) {
              metrics.storeEvent("replayed");
            }
          });
    }
    ReconcileRequest usage = ((Reconcile) pending).request();
    return redisStore.reconcile(usage).compose(settled -> {
      if (settled.outcome() != ReconcileResult.Outcome.UNKNOWN || !usage.admitted().metered()) {
        return Future.succeededFuture();
      }
      return redisStore.settle(usage.admitted(), usage.actualTokens(), usage.actualCostMicros(), true).mapEmpty();
    });
  }

  /**
   * Counts the live sidecars now ({@link LiveSidecars}, which also counts every
   * {@value LiveSidecars#COUNT_MS} ms): tests that move the clock call it instead of waiting for the
   * next count.
   */
  public Future<Integer> countLiveSidecars() {
    return liveSidecars.count();
  }

  public void close() {
    liveSidecars.close();
  }

  /** Redis is away and the policy says FailClosed. */
  public static final class StoreUnavailableException extends RuntimeException {
    StoreUnavailableException() {
      super("rate-limit store unavailable (onStoreUnavailable: FailClosed)", null, false, false);
    }
  }
}
