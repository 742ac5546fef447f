package dev.ratekeeper.sidecar.gateway;

import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.policy.compile.CompiledIdentity;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledUpstream;
import dev.ratekeeper.sidecar.identity.IdentityResolver;
import dev.ratekeeper.sidecar.metrics.SidecarMetrics;
import dev.ratekeeper.sidecar.wire.ProviderError;
import io.vertx.core.Context;
import io.vertx.core.Handler;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import java.util.List;
import java.util.function.Supplier;

/**
 * The front door of the proxy in gateway mode ({@code --mode gateway}), where the callers are many
 * clients, not one trusted agent in the same pod. Before the proxy sees a request:
 * <ol>
 *   <li>every header a client could name itself by is dropped: the policy's user and tier headers, and
 *       the provider credential headers ({@code authorization}, {@code x-api-key}, {@code api-key}), so
 *       only the gateway's own provider keys ever reach a provider;</li>
 *   <li>the end user's key ({@code identity.apiKeyHeader}) is required and checked, whatever the policy's
 *       {@code requireApiKey}: none or an unknown one is a 401 in the provider's shape, too many unknown
 *       ones lately from the same client address a 429, one that cannot be checked (store away, key not seen lately, or FailClosed) a
 *       503;</li>
 *   <li>the key is replaced by the user it belongs to, in the policy's user header, and the request goes
 *       on to the proxy, whose resolver ({@link IdentityResolver#behindGateway()}) reads it from there.</li>
 * </ol>
 * Every path goes through it, the free ones and the proxy's own {@code /ratekeeper/v1/limits} too.
 */
public final class GatewayGate implements Handler<HttpServerRequest> {
  private static final System.Logger LOG = System.getLogger(GatewayGate.class.getName());
  /** Headers that carry provider credentials in the formats Ratekeeper speaks. */
  static final List<String> CREDENTIAL_HEADERS = List.of("authorization", "x-api-key", "api-key");

  private final Supplier<CompiledPolicy> policy;
  private final IdentityResolver keys;
  private final SidecarMetrics metrics;
  private final Handler<HttpServerRequest> next;

  public GatewayGate(Supplier<CompiledPolicy> policy, IdentityResolver keys, SidecarMetrics metrics,
      Handler<HttpServerRequest> next) {
    this.policy = policy;
    this.keys = keys;
    this.metrics = metrics;
    this.next = next;
  }

  @Override
  public void handle(HttpServerRequest req) {
    CompiledPolicy current = policy.get();
    UpstreamFormat format = formatOf(current, req.path());
    try {
      CompiledIdentity identity = current.identity();
      MultiMap headers = req.headers();
      headers.remove(identity.userHeader());
      headers.remove(identity.tierHeader());
      CREDENTIAL_HEADERS.forEach(headers::remove);
      String key = headers.get(identity.apiKeyHeader());
      boolean paused = !req.isEnded();
      if (paused) {
        req.pause(); // the body waits until the request is let in or refused
      }
      Context requestContext = Vertx.currentContext();
      // unknown keys are limited per client address: one client guessing keys locks no other out
      String source = req.remoteAddress() == null ? null : req.remoteAddress().hostAddress();
      keys.resolveKey(current, key, source).onComplete(who -> onRequestContext(requestContext, () -> {
        try {
          if (who.succeeded() && who.result() instanceof IdentityResolver.Resolved resolved) {
            headers.remove(identity.apiKeyHeader());
            headers.set(identity.userHeader(), resolved.caller().user());
            if (paused) {
              // on the request's event loop, resuming only schedules the body's delivery: the proxy's
              // handlers are in place before any of it arrives
              req.resume();
            }
            next.handle(req);
          } else {
            refuse(req, format, who.succeeded() ? (IdentityResolver.Refused) who.result() : null);
          }
        } catch (RuntimeException e) {
          failed(req, format, e);
        }
      }));
    } catch (RuntimeException e) {
      failed(req, format, e);
    }
  }

  private static void onRequestContext(Context context, Runnable task) {
    if (context == null || Vertx.currentContext() == context) {
      task.run();
    } else {
      context.runOnContext(v -> task.run());
    }
  }

  private void refuse(HttpServerRequest req, UpstreamFormat format, IdentityResolver.Refused refused) {
    HttpServerResponse resp = req.response();
    ProviderError error;
    if (refused == null) {
      error = ProviderError.of(ProviderError.Kind.INTERNAL, "the caller could not be identified");
    } else {
      switch (refused.reason()) {
        case UNKNOWN_KEY, KEY_REQUIRED -> error = ProviderError.of(ProviderError.Kind.UNAUTHORIZED, refused.message());
        case TOO_MANY_UNKNOWN_KEYS -> {
          long ms = Math.max(1, refused.retryAfterMs());
          resp.putHeader("retry-after", Long.toString((ms + 999) / 1000)).putHeader("retry-after-ms", Long.toString(ms));
          error = ProviderError.of(ProviderError.Kind.RATE_LIMITED, refused.message());
        }
        default -> error = ProviderError.of(ProviderError.Kind.STORE_UNAVAILABLE, refused.message()
            + "; try again shortly");
      }
    }
    metrics.request("unknown", "unknown", "unknown", error.status() == 503 || error.status() == 500 ? "error"
        : "unauthorized");
    answer(req, format, error);
  }

  private void failed(HttpServerRequest req, UpstreamFormat format, Throwable t) {
    LOG.log(System.Logger.Level.WARNING, "request " + req.method() + " failed at the gateway's gate", t);
    metrics.request("unknown", "unknown", "unknown", "error");
    answer(req, format, ProviderError.of(ProviderError.Kind.INTERNAL,
        "Ratekeeper could not process the request (" + t.getClass().getSimpleName() + ")"));
  }

  /** Answers and closes the connection: the request's body, if any, is never read. */
  private static void answer(HttpServerRequest req, UpstreamFormat format, ProviderError error) {
    HttpServerResponse resp = req.response();
    if (resp.ended() || resp.closed() || resp.headWritten()) {
      return;
    }
    if (!req.isEnded()) {
      resp.putHeader("connection", "close");
    }
    resp.setStatusCode(error.status()).putHeader("content-type", "application/json").end(error.body(format));
  }

  /**
   * The error shape for a path, before it is routed: the format of the upstream named by its first
   * segment, else Anthropic's for a Messages path and OpenAI's for the rest.
   */
  static UpstreamFormat formatOf(CompiledPolicy policy, String path) {
    String p = path == null ? "" : path;
    int start = p.startsWith("/") ? 1 : 0;
    int end = p.indexOf('/', start);
    String first = end < 0 ? p.substring(start) : p.substring(start, end);
    for (CompiledUpstream upstream : policy.upstreams()) {
      if (upstream.name().equals(first)) {
        return upstream.format();
      }
    }
    return p.contains("/messages") ? UpstreamFormat.ANTHROPIC : UpstreamFormat.OPENAI;
  }
}
