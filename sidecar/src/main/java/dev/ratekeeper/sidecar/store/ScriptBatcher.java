package dev.ratekeeper.sidecar.store;

import io.vertx.core.AsyncResult;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import io.vertx.redis.client.ResponseType;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Sends the calls of one batch script ({@code admit.lua}, {@code reconcile.lua}) together: a call
 * made while fewer than {@link #MAX_IN_FLIGHT} calls of the script await their answer goes at once,
 * alone; one made while more are in flight waits, and when an answer comes every waiting call with
 * the same head (up to {@link #MAX_BATCH}) goes as one script call. So a quiet sidecar adds no wait to
 * any call, and a busy one pays the script's fixed cost, and the reads and writes of the counters
 * every request charges (global, per model), once per batch instead of once per request. The
 * script decides the requests of a batch one after the other, so a batch decides exactly what the
 * same calls sent one by one would have.
 *
 * <p>A call is a head (the KEYS and ARGV every request of a batch shares: the statistics keys, the
 * clock, the period) and its own words; the script takes {@code head keys, own keys of each call;
 * head args, the number of calls, own args of each call} and answers a list with one reply per
 * call, or one reply for the whole batch (a wrong statistics period), which every call then gets.
 *
 * <p>Threading: {@link #submit} may be called from any thread; each call's answer is delivered on
 * the context it was submitted from. The waiting queue and the in-flight count are guarded by this
 * object's lock, held only to change them (never while sending or delivering).
 */
final class ScriptBatcher {
  /** Calls of one script awaiting their answer before the next calls wait to go as a batch. */
  static final int MAX_IN_FLIGHT = 2;
  /** Most calls in one script call. */
  static final int MAX_BATCH = 32;
  /** Most calls waiting; past it a call is refused as Redis being too busy (as {@link RedisLink}'s queue). */
  static final int MAX_WAITING = 16_384;

  private final LuaScript script;
  private final Function<Request, Future<Response>> send;
  private final ArrayDeque<Call> waiting = new ArrayDeque<>();
  private int inFlight;

  ScriptBatcher(LuaScript script, Function<Request, Future<Response>> send) {
    this.script = script;
    this.send = send;
  }

  /** The words every call of a batch shares. */
  record Head(List<String> keys, List<String> args) {}

  private record Call(Head head, List<String> keys, List<String> args, Promise<Response> promise, Context caller) {}

  /** Sends (or queues) one call; its reply is the script's reply for this call. */
  Future<Response> submit(Head head, List<String> keys, List<String> args) {
    Call call = new Call(head, keys, args, Promise.promise(), Vertx.currentContext());
    boolean now;
    synchronized (this) {
      now = inFlight < MAX_IN_FLIGHT && waiting.isEmpty();
      if (now) {
        inFlight++;
      } else if (waiting.size() >= MAX_WAITING) {
        return Future.failedFuture(new RedisLink.RedisBusyException());
      } else {
        waiting.add(call);
      }
    }
    if (now) {
      send(List.of(call));
    }
    return call.promise().future();
  }

  /**
   * Sends {@code batch}, and after it, each batch that its answer lets go. A batch answered at once
   * (Redis refused while unavailable: the sender fails without sending) hands its slot to the next
   * batch in this loop rather than in a nested call, so a long queue drains without deepening the stack.
   */
  private void send(List<Call> batch) {
    List<Call> current = batch;
    while (current != null) {
      List<Call> sending = current;
      Future<Response> reply = call(sending);
      if (!reply.isComplete()) {
        reply.onComplete(result -> {
          List<Call> next = answered();
          if (next != null) { // the freed slot goes straight to the next batch
            send(next);
          }
          deliver(sending, result);
        });
        return;
      }
      current = answered();
      deliver(sending, reply);
    }
  }

  private Future<Response> call(List<Call> batch) {
    Head head = batch.get(0).head();
    int keyCount = head.keys().size();
    for (Call call : batch) {
      keyCount += call.keys().size();
    }
    try {
      return script.call(send, keyCount, words(batch));
    } catch (RuntimeException e) { // a sender that throws rather than failing its future: the batch fails
      return Future.failedFuture(e);
    }
  }

  private static Consumer<Request> words(List<Call> batch) {
    Head head = batch.get(0).head();
    return request -> {
      head.keys().forEach(request::arg);
      for (Call call : batch) {
        call.keys().forEach(request::arg);
      }
      head.args().forEach(request::arg);
      request.arg(batch.size());
      for (Call call : batch) {
        call.args().forEach(request::arg);
      }
    };
  }

  /** A batch was answered: its slot goes to the next batch, returned, or is freed (null). */
  private synchronized List<Call> answered() {
    List<Call> next = take();
    if (next == null) {
      inFlight--;
    }
    return next;
  }

  /** The waiting calls that go next: the oldest and those with its head, in order; null if none waits. */
  private List<Call> take() {
    Call first = waiting.poll();
    if (first == null) {
      return null;
    }
    List<Call> batch = new ArrayList<>(Math.min(MAX_BATCH, waiting.size() + 1));
    batch.add(first);
    Iterator<Call> rest = waiting.iterator();
    while (batch.size() < MAX_BATCH && rest.hasNext()) {
      Call call = rest.next();
      if (call.head().equals(first.head())) {
        batch.add(call);
        rest.remove();
      }
    }
    return batch;
  }

  private void deliver(List<Call> batch, AsyncResult<Response> result) {
    if (result.failed()) {
      batch.forEach(call -> answer(call, Future.failedFuture(result.cause())));
      return;
    }
    Response reply = result.result();
    boolean each = reply != null && reply.size() > 0 && reply.get(0) != null
        && reply.get(0).type() == ResponseType.MULTI;
    if (each && reply.size() != batch.size()) {
      IllegalStateException wrong = new IllegalStateException(
          script.name() + ".lua answered " + reply.size() + " replies for " + batch.size() + " calls");
      batch.forEach(call -> answer(call, Future.failedFuture(wrong)));
      return;
    }
    for (int i = 0; i < batch.size(); i++) {
      answer(batch.get(i), Future.succeededFuture(each ? reply.get(i) : reply));
    }
  }

  private static void answer(Call call, AsyncResult<Response> result) {
    Context caller = call.caller();
    if (caller == null || caller == Vertx.currentContext()) {
      call.promise().handle(result);
    } else {
      caller.runOnContext(v -> call.promise().handle(result));
    }
  }
}
