package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.metrics.SidecarMetrics;
import dev.ratekeeper.sidecar.wire.ProviderError;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;

/**
 * The one place an {@link Outcome} becomes an answer: status, headers and body in the provider's
 * shape ({@link Responses}), and the request metrics. Metered and unmetered calls, the gateway's key
 * check, the limits endpoint, refusals before and after the body was read, all pass here, so every
 * answer the sidecar writes is counted once, the same way, in {@code ratekeeper_requests_total} with
 * the outcome's {@link Outcome.Tags} (label values from the policy only). Runs on the request's event loop.
 */
final class Responder {
  private static final System.Logger LOG = System.getLogger(Responder.class.getName());
  private final SidecarMetrics metrics;

  Responder(SidecarMetrics metrics) {
    this.metrics = metrics;
  }

  void answer(HttpServerRequest req, Outcome outcome) {
    try {
      write(req, outcome);
    } catch (Throwable t) {
      LOG.log(System.Logger.Level.WARNING, "answering " + req.method() + " failed", t);
      req.connection().close();
    }
  }

  private void write(HttpServerRequest req, Outcome outcome) {
    Outcome.Tags tags = outcome.tags();
    HttpServerResponse resp = req.response();
    if (outcome instanceof Outcome.Forwarded forwarded) {
      count(tags, forwarded.decision());
    } else if (outcome instanceof Outcome.Refused refused) {
      count(tags, refused.decision());
      release(req, refused.connection());
      refused.headers().forEach(resp::putHeader);
      close(req, refused.connection());
      Responses.error(resp, tags.format(), refused.error());
      if (refused.connection() == Outcome.Connection.CLOSE_NOW) {
        req.connection().close();
      }
    } else if (outcome instanceof Outcome.Denied denied) {
      Decision verdict = denied.decision();
      verdict.limitedBy().forEach(d -> metrics.throttled(d.wireName()));
      count(tags, verdict.neverPassable() ? "invalid" : "throttled");
      release(req, denied.connection());
      close(req, denied.connection());
      Responses.denied(resp, tags.format(), verdict);
    } else if (outcome instanceof Outcome.CoolingDown cooling) {
      metrics.throttled("upstream.cooldown");
      count(tags, "throttled");
      resume(req);
      Responses.cooldown(resp, tags.format(), tags.upstream(), cooling.remainingMs());
    } else if (outcome instanceof Outcome.Answered answered) {
      count(tags, answered.decision());
      resume(req);
      if (!resp.ended() && !resp.closed() && !resp.headWritten()) {
        answered.headers().forEach(resp::putHeader);
        resp.setStatusCode(answered.status()).putHeader("content-type", "application/json").end(answered.body());
      }
    } else if (outcome instanceof Outcome.UpstreamFailed failed) {
      resume(req);
      Responses.error(resp, tags.format(), failed.error());
    } else if (outcome instanceof Outcome.Failed failed) {
      LOG.log(System.Logger.Level.WARNING, "request " + req.method() + " failed in the sidecar", failed.cause());
      count(tags, "error");
      release(req, Outcome.Connection.CLOSE_AFTER);
      close(req, Outcome.Connection.CLOSE_AFTER);
      Responses.error(resp, tags.format(), ProviderError.of(ProviderError.Kind.INTERNAL,
          "Ratekeeper could not process the request (" + failed.cause().getClass().getSimpleName() + ")"));
    }
    // Abandoned: nothing to write or count
  }

  private void count(Outcome.Tags tags, String decision) {
    metrics.request(tags.upstream(), tags.model(), tags.tier(), decision);
  }

  private static void close(HttpServerRequest req, Outcome.Connection connection) {
    if (connection != Outcome.Connection.KEEP && !req.response().headWritten()) {
      req.response().putHeader("connection", "close");
    }
  }

  /**
   * Of a body still arriving when the answer closes its connection, at most this many bytes are read
   * (and discarded) before the connection is closed: a client that writes its whole request before
   * reading (most SDKs) still reads the answer to a small body, and no refused client makes the
   * sidecar take in more than this.
   */
  static final long DRAIN_BYTES = 1 << 20;

  /**
   * What becomes of a body still arriving: on a connection kept alive it arrives again (to be
   * discarded); on one that closes after the answer, up to {@link #DRAIN_BYTES} of it, then the
   * connection is closed.
   */
  private static void release(HttpServerRequest req, Outcome.Connection connection) {
    if (connection != Outcome.Connection.KEEP && !req.isEnded()) {
      long[] drained = {0};
      req.handler(chunk -> {
        drained[0] += chunk.length();
        if (drained[0] > DRAIN_BYTES) {
          req.connection().close();
        }
      });
    }
    resume(req);
  }

  /** Lets a paused body arrive again (to be discarded), unless it has all arrived. */
  private static void resume(HttpServerRequest req) {
    RequestPipeline.resume(req);
  }
}
