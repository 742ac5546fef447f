package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.sidecar.wire.ProviderError;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Reads a metered call's body whole, with three bounds: the body's own size ({@code --max-body},
 * 413), the bytes of all bodies this sidecar holds at once ({@code --max-inflight-body}, 503 with
 * {@code retry-after}: a few slow or stalled uploads cannot starve the others or the heap), and the
 * time the whole body may take to arrive ({@code --body-timeout}, 408). Bytes are counted against the
 * sidecar's total as they arrive (not as declared, so a client cannot hold the total with promises)
 * and given back once the body has been parsed (the caller runs the release it is handed), or when
 * the request fails or is answered first.
 * {@code Expect: 100-continue} is answered once the declared length fits; any other expectation is a 417.
 */
final class BodyReader {
  private final Vertx vertx;
  private final long maxBody;
  private final long maxInflight;
  private final long bodyTimeoutMs;
  private final AtomicLong inflight = new AtomicLong();

  BodyReader(Vertx vertx, long maxBody, long maxInflight, long bodyTimeoutMs) {
    this.vertx = vertx;
    this.maxBody = maxBody;
    this.maxInflight = maxInflight;
    this.bodyTimeoutMs = bodyTimeoutMs;
  }

  /** Bytes of request bodies held right now. */
  long inflightBytes() {
    return inflight.get();
  }

  long maxBody() {
    return maxBody;
  }

  /**
   * Checks {@code Expect}: null when the request may go on (a {@code 100 Continue} is sent once the
   * body is wanted); otherwise the refusal (417) for the tags' shape.
   */
  static Outcome expectation(HttpServerRequest req, Outcome.Tags tags) {
    String expect = req.getHeader("expect");
    if (expect == null || expect.trim().equalsIgnoreCase("100-continue")) {
      return null;
    }
    return Outcome.refused(tags, "invalid", ProviderError.Kind.EXPECTATION_FAILED,
        "only Expect: 100-continue is supported", Outcome.Connection.CLOSE_AFTER);
  }

  /** The client waits for {@code 100 Continue} before sending the body. */
  static void continueIfExpected(HttpServerRequest req) {
    if (req.getHeader("expect") != null) {
      req.response().writeContinue();
    }
  }

  /** A body read whole, and the release of its bytes, to run once it has been parsed. */
  record Body(Buffer bytes, Runnable release) {}

  /**
   * Reads the body whole: completes with it, or with the refusal that ends the request (413, 503
   * with {@code retry-after}, 408, 400). Completes on the request's event loop.
   */
  Future<Step<Body>> read(HttpServerRequest req, Outcome.Tags tags) {
    String declared = req.getHeader("content-length");
    if (declared != null) {
      long declaredLength;
      try {
        declaredLength = Long.parseLong(declared.trim());
      } catch (NumberFormatException e) {
        return Future.succeededFuture(Step.stop(Outcome.refused(tags, "invalid", ProviderError.Kind.INVALID_REQUEST,
            "content-length is not a number", Outcome.Connection.CLOSE_AFTER)));
      }
      if (declaredLength > maxBody) {
        return Future.succeededFuture(Step.stop(tooLarge(tags)));
      }
    }
    Promise<Step<Body>> read = Promise.promise();
    Held held = new Held();
    // an answer before the body was handed on (413, 503, 408) ends the response; a request that
    // fails (the connection or stream closed) reports to its exception handler
    req.response().endHandler(v -> held.release());
    continueIfExpected(req);
    Buffer body = Buffer.buffer();
    boolean[] over = {false};
    long timer = vertx.setTimer(bodyTimeoutMs, id -> {
      if (!over[0]) {
        over[0] = true;
        read.tryComplete(Step.stop(Outcome.refused(tags, "invalid", ProviderError.Kind.REQUEST_TIMEOUT,
            "the request body did not arrive within " + bodyTimeoutMs + " ms", Outcome.Connection.CLOSE_NOW)));
      }
    });
    long[] counted = {0};
    req.handler(chunk -> {
      if (over[0]) {
        return;
      }
      try {
        long length = (long) body.length() + chunk.length();
        if (length > maxBody) {
          over[0] = true;
          vertx.cancelTimer(timer);
          read.tryComplete(Step.stop(tooLarge(tags)));
        } else if (length > counted[0] && !held.take(length - counted[0])) {
          over[0] = true;
          vertx.cancelTimer(timer);
          read.tryComplete(Step.stop(busy(tags)));
        } else {
          counted[0] = Math.max(counted[0], length);
          body.appendBuffer(chunk);
        }
      } catch (Throwable t) {
        // e.g. no heap left for the chunk: answer rather than leave the client waiting
        over[0] = true;
        vertx.cancelTimer(timer);
        held.release();
        read.tryComplete(Step.stop(Outcome.refused(tags, "error", ProviderError.Kind.INTERNAL,
            "Ratekeeper could not read the request body (" + t.getClass().getSimpleName() + ")",
            Outcome.Connection.CLOSE_AFTER)));
      }
    });
    req.exceptionHandler(err -> {
      over[0] = true;
      vertx.cancelTimer(timer);
      held.release();
      read.tryComplete(Step.stop(new Outcome.Abandoned(tags)));
    });
    req.endHandler(v -> {
      vertx.cancelTimer(timer);
      if (!over[0]) {
        over[0] = true;
        read.tryComplete(Step.next(new Body(body, held::release)));
      }
    });
    return read.future();
  }

  private Outcome tooLarge(Outcome.Tags tags) {
    return Outcome.refused(tags, "invalid", ProviderError.Kind.TOO_LARGE,
        "request body exceeds the sidecar's limit of " + maxBody + " bytes (--max-body)", Outcome.Connection.CLOSE_AFTER);
  }

  private Outcome busy(Outcome.Tags tags) {
    return new Outcome.Refused(tags, "error", ProviderError.of(ProviderError.Kind.BUSY, "the sidecar holds "
        + maxInflight + " bytes of request bodies already (--max-inflight-body); retry shortly"),
        java.util.Map.of("retry-after", "1"), Outcome.Connection.CLOSE_AFTER);
  }

  /** This exchange's share of the in-flight bytes; given back once. */
  private final class Held {
    private long bytes;
    private final AtomicBoolean released = new AtomicBoolean();

    synchronized boolean take(long more) {
      if (released.get()) {
        return false;
      }
      while (true) {
        long now = inflight.get();
        if (now + more > maxInflight) {
          return false;
        }
        if (inflight.compareAndSet(now, now + more)) {
          bytes += more;
          return true;
        }
      }
    }

    synchronized void release() {
      if (released.compareAndSet(false, true)) {
        inflight.addAndGet(-bytes);
        bytes = 0;
      }
    }
  }
}
