package dev.ratekeeper.sidecar.proxy;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;
import java.util.function.Supplier;

/**
 * Requests waiting for capacity ({@code maxQueueWait}) in this sidecar. Whenever waiters are due,
 * they try again one after another, lower priority number first and first come first within a
 * priority, so the most important request takes freed capacity first. A waiter whose client went
 * away, or whose deadline passes, leaves the queue. Everything runs on the queue's own Vert.x
 * context: no locks.
 */
final class AdmissionQueue {
  static final long TICK_MS = 5;
  private final Vertx vertx;
  private final Context context;
  private final PriorityQueue<Waiter> waiters = new PriorityQueue<>(
      Comparator.comparingInt(Waiter::priority).thenComparingLong(Waiter::seq));
  private long seq;
  private long timer = -1;
  private long timerAt = Long.MAX_VALUE;
  private boolean pumping;

  AdmissionQueue(Vertx vertx) {
    this.vertx = vertx;
    this.context = vertx.getOrCreateContext();
  }

  /**
   * What a waiter does when it is its turn: try admission again; complete with the wait until its
   * next try in ms, or a negative number once it is done (admitted, refused, or given up).
   */
  interface Attempt extends Supplier<Future<Long>> {}

  static final class Waiter {
    private final int priority;
    private long seq;
    private final Attempt attempt;
    private long dueAtMs;
    private boolean gone;

    private Waiter(int priority, long seq, Attempt attempt, long dueAtMs) {
      this.priority = priority;
      this.seq = seq;
      this.attempt = attempt;
      this.dueAtMs = dueAtMs;
    }

    int priority() {
      return priority;
    }

    long seq() {
      return seq;
    }

    /** The client went away: leave the queue. */
    void leave() {
      gone = true;
    }
  }

  /** Queues a request to try again after {@code waitMs}. */
  Waiter enqueue(int priority, long waitMs, Attempt attempt) {
    Waiter waiter = new Waiter(priority, 0, attempt, System.currentTimeMillis() + waitMs);
    context.runOnContext(v -> {
      waiter.seq = seq++;
      waiters.add(waiter);
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
    timer = vertx.setTimer(Math.max(1, next - System.currentTimeMillis()), t -> {
      timer = -1;
      timerAt = Long.MAX_VALUE;
      pump();
    });
  }

  private void pump() {
    // waiters due within a timer tick of each other are tried in one pass, in priority order
    long now = System.currentTimeMillis() + TICK_MS;
    waiters.removeIf(w -> w.gone);
    List<Waiter> due = new ArrayList<>();
    for (Waiter w : waiters) {
      if (w.dueAtMs <= now) {
        due.add(w);
      }
    }
    due.sort(waiters.comparator());
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
      tryInOrder(due, index + 1);
      return;
    }
    w.attempt.get().onComplete(result -> context.runOnContext(v -> {
      long again = result.succeeded() ? result.result() : -1;
      if (again < 0 || w.gone) {
        waiters.remove(w);
      } else {
        w.dueAtMs = System.currentTimeMillis() + Math.max(1, again);
      }
      tryInOrder(due, index + 1);
    }));
  }
}
