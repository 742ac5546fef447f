package dev.ratekeeper.sidecar.identity;

import dev.ratekeeper.policy.compile.CompiledIdentity;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.LongSupplier;

/**
 * Works out who a request is for. User: the end user's own key when the policy maps keys and the
 * request carries one; else the user header; else {@code anonymous}. Tier: the policy's users list,
 * then the tier header when the policy trusts it, then the default tier.
 *
 * <p>The outcome is a value ({@link Resolution}): a caller, or why there is none — an unknown key,
 * a key the policy requires but the request lacks ({@code identity.requireApiKey}), too many unknown
 * keys lately, or a key that could not be looked up because the store did not answer (the proxy then
 * follows the policy's {@code onStoreUnavailable}).
 *
 * <p>Unknown keys are rate limited per sidecar: each costs one of {@value #FAILURE_BURST} tokens,
 * refilled at {@value #FAILURES_PER_SECOND} a second; while none is left, a key is looked up only if
 * it was recently found valid ({@value #KNOWN_KEYS} remembered), other keys are answered 429 at once.
 */
public final class IdentityResolver {
  static final int FAILURE_BURST = 20;
  static final int FAILURES_PER_SECOND = 5;
  static final int KNOWN_KEYS = 1024;
  /** A key lookup that takes longer counts as the store being unavailable. */
  static final long LOOKUP_TIMEOUT_MS = 2_000;

  /** Looks up the user id of a key hash; completes with null for an unknown key. Null: users have no keys. */
  private final Function<String, Future<String>> keyLookup;
  private final LongSupplier nanoClock;
  private final Map<String, Boolean> knownKeys = Collections.synchronizedMap(
      new LinkedHashMap<>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
          return size() > KNOWN_KEYS;
        }
      });
  private double failureTokens = FAILURE_BURST;
  private long refilledAt;

  public IdentityResolver(Function<String, Future<String>> keyLookup) {
    this(keyLookup, System::nanoTime);
  }

  public IdentityResolver(Function<String, Future<String>> keyLookup, LongSupplier nanoClock) {
    this.keyLookup = keyLookup;
    this.nanoClock = nanoClock;
    this.refilledAt = nanoClock.getAsLong();
  }

  /** Who the request is for, or why that cannot be said. */
  public sealed interface Resolution permits Resolved, Refused {}

  public record Resolved(Caller caller) implements Resolution {}

  /** {@code retryAfterMs}: for {@link Reason#TOO_MANY_UNKNOWN_KEYS}. The key itself is never in the message. */
  public record Refused(Reason reason, String message, long retryAfterMs) implements Resolution {}

  public enum Reason { UNKNOWN_KEY, KEY_REQUIRED, TOO_MANY_UNKNOWN_KEYS, STORE_UNAVAILABLE }

  /** Never fails: every outcome is a {@link Resolution}. */
  public Future<Resolution> resolve(CompiledPolicy policy, MultiMap headers) {
    CompiledIdentity identity = policy.identity();
    String key = headers.get(identity.apiKeyHeader());
    boolean hasKey = key != null && !key.isBlank();
    if (keyLookup != null && hasKey) {
      String hash = ApiKeys.hash(key.strip());
      long waitMs = knownKeys.containsKey(hash) ? 0 : failureWaitMs();
      if (waitMs > 0) {
        return Future.succeededFuture(new Refused(Reason.TOO_MANY_UNKNOWN_KEYS, "too many unknown keys in "
            + identity.apiKeyHeader() + " lately; retry later", waitMs));
      }
      Future<String> lookup;
      try {
        lookup = keyLookup.apply(hash).timeout(LOOKUP_TIMEOUT_MS, TimeUnit.MILLISECONDS);
      } catch (RuntimeException e) {
        lookup = Future.failedFuture(e);
      }
      return lookup.transform(found -> {
        if (found.failed()) {
          return Future.succeededFuture(new Refused(Reason.STORE_UNAVAILABLE,
              "the key in " + identity.apiKeyHeader() + " could not be checked: the rate-limit store is unavailable", 0));
        }
        String user = found.result();
        if (user == null) {
          spendFailure();
          return Future.succeededFuture(new Refused(Reason.UNKNOWN_KEY, "the key in " + identity.apiKeyHeader()
              + " is not known", 0));
        }
        knownKeys.put(hash, Boolean.TRUE);
        return Future.succeededFuture(new Resolved(new Caller(user, tierOf(policy, user, headers))));
      });
    }
    if (identity.requireApiKey() && !hasKey) {
      return Future.succeededFuture(new Refused(Reason.KEY_REQUIRED, "an end-user key is required in "
          + identity.apiKeyHeader() + " (identity.requireApiKey)", 0));
    }
    return Future.succeededFuture(new Resolved(fromHeaders(policy, headers)));
  }

  /** The caller named by the headers alone (no key): the user header or {@code anonymous}. */
  public static Caller fromHeaders(CompiledPolicy policy, MultiMap headers) {
    String user = headers.get(policy.identity().userHeader());
    if (user == null || user.isBlank()) {
      user = Caller.ANONYMOUS;
    }
    return new Caller(user.strip(), tierOf(policy, user.strip(), headers));
  }

  /** The caller when a key could not be checked and the policy keeps serving: anonymous, default tier. */
  public static Caller unverified(CompiledPolicy policy) {
    return new Caller(Caller.ANONYMOUS, policy.defaultTier());
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

  /** 0 when an unknown key may still be looked up, else how long until one may. */
  private synchronized long failureWaitMs() {
    refill();
    return failureTokens >= 1 ? 0 : (long) Math.ceil((1 - failureTokens) * 1000 / FAILURES_PER_SECOND);
  }

  private synchronized void spendFailure() {
    refill();
    failureTokens = Math.max(0, failureTokens - 1);
  }

  private void refill() {
    long now = nanoClock.getAsLong();
    failureTokens = Math.min(FAILURE_BURST, failureTokens + (now - refilledAt) / 1e9 * FAILURES_PER_SECOND);
    refilledAt = now;
  }
}
