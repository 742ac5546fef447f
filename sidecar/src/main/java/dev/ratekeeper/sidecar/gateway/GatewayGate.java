package dev.ratekeeper.sidecar.gateway;

import dev.ratekeeper.policy.compile.CompiledIdentity;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.identity.Caller;
import dev.ratekeeper.sidecar.identity.IdentityResolver;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.http.HttpServerRequest;
import java.util.List;

/**
 * The end user's key of a request in gateway mode ({@code --mode gateway}), where the callers are
 * many clients, not one trusted agent in the same pod. The proxy's pipeline asks it first, on every
 * path (the free ones and the proxy's own {@code /ratekeeper/v1/limits} too):
 * <ol>
 *   <li>{@link #check}: every header a client could name itself by is dropped — the policy's user and
 *       tier headers, and the provider credential headers ({@code authorization}, {@code x-api-key},
 *       {@code api-key}), so only the gateway's own provider keys ever reach a provider — and the key
 *       in {@code identity.apiKeyHeader} is looked up, whatever the policy's {@code requireApiKey}
 *       (unknown keys limited per client address: one client guessing keys locks no other out);</li>
 *   <li>{@link #admitAs}: the key is replaced by the user it belongs to, in the policy's user header,
 *       where the proxy's resolver ({@link IdentityResolver#behindGateway()}) reads it.</li>
 * </ol>
 * A refused key is a value ({@link IdentityResolver.Refused}); the pipeline answers and counts it as
 * it does any caller it cannot name.
 */
public final class GatewayGate {
  /** Headers that carry provider credentials in the formats Ratekeeper speaks. */
  static final List<String> CREDENTIAL_HEADERS = List.of("authorization", "x-api-key", "api-key");

  private final IdentityResolver keys;

  public GatewayGate(IdentityResolver keys) {
    this.keys = keys;
  }

  /** Drops what the client claims itself and looks its key up. Never fails: every outcome is a resolution. */
  public Future<IdentityResolver.Resolution> check(CompiledPolicy current, HttpServerRequest req) {
    CompiledIdentity identity = current.identity();
    MultiMap headers = req.headers();
    headers.remove(identity.userHeader());
    headers.remove(identity.tierHeader());
    CREDENTIAL_HEADERS.forEach(headers::remove);
    String source = req.remoteAddress() == null ? null : req.remoteAddress().hostAddress();
    return keys.resolveKey(current, headers.get(identity.apiKeyHeader()), source);
  }

  /** The request goes on as {@code caller}: the key out, its user in the policy's user header. */
  public void admitAs(CompiledPolicy current, HttpServerRequest req, Caller caller) {
    CompiledIdentity identity = current.identity();
    req.headers().remove(identity.apiKeyHeader());
    req.headers().set(identity.userHeader(), caller.user());
  }
}
