package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.sidecar.time.SidecarClock;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Requests waiting for capacity ({@code maxQueueWait}) in this sidecar. Whenever waiters are due,
 * they try again one after another, lower priority number first and first come first within a
 * priority, so the most important request takes freed capacity first.
 *
 * <p><b>Fairness</b>: a waiter gains one priority level for every {@link #AGING_MS} it has waited, so
 * a lane of less important calls is never starved by a steady stream of more important ones: a
 * batch call ({@code priority + }{@value #BATCH_OFFSET}) outranks fresh interactive calls of its tier
 * after {@value #BATCH_OFFSET} × {@link #AGING_MS}, and every waiter leaves at its own deadline
 * ({@code maxQueueWait}) at the latest. Within that, more important calls go first.
 *
 * <p>A waiter whose client went away, or whose deadline passes, leaves the queue. Everything runs on
 * the queue's own Vert.x context: no locks. What other threads call ({@link #enqueue},
 * {@link Waiter#leave}, a move of the clock) hops onto that context; {@link #size} is published for
 * any thread to read.
 *
 * <p>Waiters are due by the sidecar's {@link SidecarClock}: a Vert.x timer follows time passing, and a
 * clock moved by hand wakes the queue as it moves ({@link SidecarClock#whenMoved}).
 */
final class AdmissionQueue {
  static final long TICK_MS = 5;
  /** A waiter gains one priority level per this much waiting. */
  static final long AGING_MS = 100;
  /** How much less important a call marked {@code batch} is than its tier's calls. */
  static final int BATCH_OFFSET = 10;
  private final Vertx vertx;
  private final LongSupplier clockMs;
  private final Context context;
  private final PriorityQueue<Waiter> waiters = new PriorityQueue<>(
      Comparator.comparingInt(Waiter::priority).thenComparingLong(Waiter::seq));
  private long seq;
  private long timer = -1;
  private long timerAt = Long.MAX_VALUE;
  private boolean pumping;
  /** {@link #waiters}' size, for any thread to read. */
  private volatile int size;
  private final Runnable unwatch;

  /**
   * @param clock the queue's clock: waiters are due by it. Time passing is followed by a Vert.x timer;
   *     a clock moved by hand (tests') wakes the queue as it moves, so a waiter's turn comes on that
   *     clock without a real wait
   */
  AdmissionQueue(Vertx vertx, SidecarClock clock) {
    this.vertx = vertx;
    this.clockMs = clock::millis;
    this.context = vertx.getOrCreateContext();
    this.unwatch = clock.whenMoved(() -> {
      try {
        context.runOnContext(v -> wake());
      } catch (java.util.concurrent.RejectedExecutionException closed) {
        // Vert.x is closed: nothing waits any more
      }
    });
  }

  /** Waiters in the queue now (those whose client left included until the queue has seen it). */
  int size() {
    return size;
  }

  /** Stops following the clock's moves (the proxy is closing). */
  void close() {
    unwatch.run();
  }

  /**
   * What a waiter does when it is its turn: try admission again; complete with the wait until its
   * next try in ms, or a negative number once it is done (admitted, refused, or given up).
   */
  interface Attempt extends Supplier<Future<Long>> {}

  /**
   * One queued call. Its fields are the queue's: written and read on the queue's context only
   * ({@link #leave} hops there from the call's event loop).
   */
  final class Waiter {
    private final int priority;
    private long seq;
    private final Attempt attempt;
    private long dueAtMs;
    private final long enqueuedAtMs;
    private boolean gone;

    private Waiter(int priority, long seq, Attempt attempt, long dueAtMs, long enqueuedAtMs) {
      this.priority = priority;
      this.seq = seq;
      this.attempt = attempt;
      this.dueAtMs = dueAtMs;
      this.enqueuedAtMs = enqueuedAtMs;
    }

    /** Its priority at {@code nowMs}, raised one level per {@link #AGING_MS} waited. */
    long effectivePriority(long nowMs) {
      return priority - (nowMs - enqueuedAtMs) / AGING_MS;
    }

    int priority() {
      return priority;
    }

    long seq() {
      return seq;
    }

    /**
     * The client went away: leave the queue. May be called on any thread (the call's event loop): the
     * queue learns it on its own context, so a pass already under way may still try this waiter once,
     * and the call's own attempt finds the client gone.
     */
    void leave() {
      context.runOnContext(v -> {
        gone = true;
        waiters.remove(this);
        size = waiters.size();
      });
    }
  }

  /** Queues a request to try again after {@code waitMs}. */
  Waiter enqueue(int priority, long waitMs, Attempt attempt) {
    long now = clockMs.getAsLong();
    Waiter waiter = new Waiter(priority, 0, attempt, now + waitMs, now);
    context.runOnContext(v -> {
      waiter.seq = seq++;
      waiters.add(waiter);
      size = waiters.size();
      schedule();
    });
    return waiter;
  }

  private void schedule() {
    long next = Long.MAX_VALUE;
    for (Waiter w : waiters) {
      next = Math.min(next, w.dueAtMs);
    }
    if (next == Long.MAX_VALUE || pumping) {
      return;
    }
    if (timer >= 0 && timerAt <= next) {
      return;
    }
    if (timer >= 0) {
      vertx.cancelTimer(timer);
    }
    timerAt = next;
    timer = vertx.setTimer(Math.max(1, next - clockMs.getAsLong()), t -> {
      timer = -1;
      timerAt = Long.MAX_VALUE;
      pump();
    });
  }

  /** The clock was moved by hand: waiters it made due try now rather than at the timer. */
  private void wake() {
    if (pumping) {
      return; // the pass under way schedules the next one by the clock as it is then
    }
    if (timer >= 0) {
      vertx.cancelTimer(timer);
      timer = -1;
      timerAt = Long.MAX_VALUE;
    }
    pump();
  }

  private void pump() {
    // waiters due within a timer tick of each other are tried in one pass, in priority order
    long now = clockMs.getAsLong() + TICK_MS;
    waiters.removeIf(w -> w.gone);
    size = waiters.size();
    List<Waiter> due = new ArrayList<>();
    for (Waiter w : waiters) {
      if (w.dueAtMs <= now) {
        due.add(w);
      }
    }
    long at = clockMs.getAsLong();
    due.sort(Comparator.<Waiter>comparingLong(w -> w.effectivePriority(at)).thenComparingLong(Waiter::seq));
    pumping = true;
    tryInOrder(due, 0);
  }

  private void tryInOrder(List<Waiter> due, int index) {
    if (index == due.size()) {
      pumping = false;
      schedule();
      return;
    }
    Waiter w = due.get(index);
    if (w.gone) {
      waiters.remove(w);
      size = waiters.size();
      tryInOrder(due, index + 1);
      return;
    }
    w.attempt.get().onComplete(result -> context.runOnContext(v -> {
      long again = result.succeeded() ? result.result() : -1;
      if (again < 0 || w.gone) {
        waiters.remove(w);
        size = waiters.size();
      } else {
        w.dueAtMs = clockMs.getAsLong() + Math.max(1, again);
      }
      tryInOrder(due, index + 1);
    }));
  }
}
