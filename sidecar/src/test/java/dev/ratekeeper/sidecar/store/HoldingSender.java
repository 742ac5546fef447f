package dev.ratekeeper.sidecar.store;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * A store's sender for tests, in front of one connection: counts script calls; while held, keeps
 * what is sent until released, then sends it in one pipelined write, so the held calls reach Redis
 * in the order they were made and before anything their answers set going.
 */
final class HoldingSender implements Function<Request, Future<Response>> {
  private final RedisConnection connection;
  private final List<Request> waiting = new ArrayList<>();
  private final List<Promise<Response>> answers = new ArrayList<>();
  private final AtomicInteger scriptCalls = new AtomicInteger();
  private boolean holding;
  private int failures;
  private RuntimeException failure;

  HoldingSender(RedisConnection connection) {
    this.connection = connection;
  }

  @Override
  public synchronized Future<Response> apply(Request request) {
    if (request.command() == Command.EVALSHA || request.command() == Command.EVAL) {
      scriptCalls.incrementAndGet();
    }
    if (!holding) {
      return connection.send(request);
    }
    Promise<Response> promise = Promise.promise();
    waiting.add(request);
    answers.add(promise);
    return promise.future();
  }

  synchronized void hold() {
    holding = true;
  }

  synchronized int held() {
    return waiting.size();
  }

  int scriptCalls() {
    return scriptCalls.get();
  }

  synchronized void failNext(int calls, RuntimeException cause) {
    failures = calls;
    failure = cause;
  }

  void release() {
    List<Request> go = new ArrayList<>();
    List<Promise<Response>> to = new ArrayList<>();
    synchronized (this) {
      holding = false;
      for (int i = 0; i < waiting.size(); i++) {
        if (failures > 0) {
          failures--;
          answers.get(i).fail(failure);
        } else {
          go.add(waiting.get(i));
          to.add(answers.get(i));
        }
      }
      waiting.clear();
      answers.clear();
    }
    if (!go.isEmpty()) {
      connection.batch(go).onComplete(replies -> {
        for (int i = 0; i < to.size(); i++) {
          if (replies.succeeded()) {
            to.get(i).complete(replies.result().get(i));
          } else {
            to.get(i).fail(replies.cause());
          }
        }
      });
    }
  }
}
