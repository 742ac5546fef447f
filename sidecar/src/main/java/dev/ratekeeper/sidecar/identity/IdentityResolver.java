package dev.ratekeeper.sidecar.identity;

import dev.ratekeeper.policy.compile.CompiledIdentity;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import java.util.function.Function;

/**
 * Works out who a request is for. User: the end user's own key when the policy maps keys and the
 * request carries one; else the user header; else {@code anonymous}. Tier: the policy's users list,
 * then the tier header when the policy trusts it, then the default tier.
 */
public final class IdentityResolver {
  /** Looks up the user id of a key hash; completes with null for an unknown key. Null: users have no keys. */
  private final Function<String, Future<String>> keyLookup;

  public IdentityResolver(Function<String, Future<String>> keyLookup) {
    this.keyLookup = keyLookup;
  }

  /** Completes with the caller, or fails with {@link UnknownApiKeyException} for a key nobody holds. */
  public Future<Caller> resolve(CompiledPolicy policy, MultiMap headers) {
    CompiledIdentity identity = policy.identity();
    String key = headers.get(identity.apiKeyHeader());
    if (keyLookup != null && key != null && !key.isBlank()) {
      return keyLookup.apply(ApiKeys.hash(key.strip())).compose(user -> user == null
          ? Future.failedFuture(new UnknownApiKeyException(identity.apiKeyHeader()))
          : Future.succeededFuture(new Caller(user, tierOf(policy, user, headers))));
    }
    String user = headers.get(identity.userHeader());
    if (user == null || user.isBlank()) {
      user = Caller.ANONYMOUS;
    }
    return Future.succeededFuture(new Caller(user.strip(), tierOf(policy, user.strip(), headers)));
  }

  static String tierOf(CompiledPolicy policy, String user, MultiMap headers) {
    String assigned = policy.users().get(user);
    if (assigned != null) {
      return assigned;
    }
    if (policy.identity().trustTierHeader()) {
      String claimed = headers.get(policy.identity().tierHeader());
      if (claimed != null && policy.tier(claimed.strip()).isPresent()) {
        return claimed.strip();
      }
    }
    return policy.defaultTier();
  }

  /** The request carried an end-user key that maps to no user. The key itself is never in the message. */
  public static final class UnknownApiKeyException extends RuntimeException {
    public UnknownApiKeyException(String header) {
      super("the key in " + header + " is not known", null, false, false);
    }
  }
}
