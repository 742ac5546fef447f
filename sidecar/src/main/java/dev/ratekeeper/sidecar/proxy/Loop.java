package dev.ratekeeper.sidecar.proxy;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.util.function.Supplier;

/**
 * The event loop a request arrived on. Every stage of the request runs there: results of the store,
 * of Redis look-ups and of the queue, which complete on other threads, are brought back with
 * {@link #on}, so the state of one exchange is only ever touched by one thread.
 */
final class Loop {
  private final Context context;

  private Loop(Context context) {
    this.context = context;
  }

  /** The loop the caller runs on (a proxy server's event loop). */
  static Loop current() {
    Context context = Vertx.currentContext();
    if (context == null) {
      throw new IllegalStateException("not on a Vert.x context");
    }
    return new Loop(context);
  }

  private boolean here() {
    return Vertx.currentContext() == context;
  }

  /** {@code future}, whose callbacks run on this loop. */
  <T> Future<T> on(Future<T> future) {
    if (future.isComplete() && here()) {
      return future;
    }
    Promise<T> promise = Promise.promise();
    future.onComplete(done -> {
      if (here()) {
        promise.handle(done);
      } else {
        context.runOnContext(v -> promise.handle(done));
      }
    });
    return promise.future();
  }

  /** Runs {@code work} on this loop. */
  <T> Future<T> run(Supplier<Future<T>> work) {
    if (here()) {
      return work.get();
    }
    Promise<T> promise = Promise.promise();
    context.runOnContext(v -> {
      try {
        work.get().onComplete(promise);
      } catch (Throwable t) {
        promise.fail(t);
      }
    });
    return promise.future();
  }
}
