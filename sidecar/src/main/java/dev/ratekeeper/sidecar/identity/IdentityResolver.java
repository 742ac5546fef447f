package dev.ratekeeper.sidecar.identity;

import dev.ratekeeper.policy.compile.CompiledIdentity;
import dev.ratekeeper.policy.api.StoreFailureMode;
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
 * A gateway ({@link #forGateway}) serves many clients, so one client guessing keys must not lock the
 * others out: there the budget above is each client address's ({@value #SOURCES} remembered), and
 * all of them together get {@value #GATEWAY_FAILURE_BURST}, refilled at
 * {@value #GATEWAY_FAILURES_PER_SECOND} a second (what bounds the lookups an attack costs the store).
 */
public final class IdentityResolver {
  static final int FAILURE_BURST = 20;
  static final int FAILURES_PER_SECOND = 5;
  static final int GATEWAY_FAILURE_BURST = 200;
  static final int GATEWAY_FAILURES_PER_SECOND = 50;
  /** Client addresses a gateway keeps a failure budget for (the least recently seen goes first). */
  static final int SOURCES = 4096;
  static final int KNOWN_KEYS = 1024;
  /** A key lookup that takes longer counts as the store being unavailable. */
  static final long LOOKUP_TIMEOUT_MS = 2_000;

  /** Looks up the user id of a key hash; completes with null for an unknown key. Null: users have no keys. */
  private final Function<String, Future<String>> keyLookup;
  /** Behind the gateway's gate ({@link #behindGateway}): the user header was set by the gate from a checked key. */
  private final boolean keyCheckedBefore;
  /** The sidecar's monotonic clock: refills the unknown-key budgets. Null when no key is looked up. */
  private final LongSupplier nanoClock;
  /** Hashes of keys recently found valid, with their user. */
  private final Map<String, String> knownKeys = Collections.synchronizedMap(
      new LinkedHashMap<>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, String> eldest) {
          return size() > KNOWN_KEYS;
        }
      });
  private final FailureBudget failures;
  /** Gateway mode: each client address's own budget; null in a sidecar. */
  private final Map<String, FailureBudget> failuresBySource;

  /**
   * A sidecar's resolver.
   *
   * @param nanoClock the sidecar's monotonic clock ({@code SidecarClock#nanos}), which refills the
   *     unknown-key budget
   */
  public IdentityResolver(Function<String, Future<String>> keyLookup, LongSupplier nanoClock) {
    this(keyLookup, false, nanoClock);
  }

  private IdentityResolver(Function<String, Future<String>> keyLookup, boolean keyCheckedBefore, LongSupplier nanoClock) {
    this(keyLookup, keyCheckedBefore, nanoClock, false);
  }

  private IdentityResolver(Function<String, Future<String>> keyLookup, boolean keyCheckedBefore, LongSupplier nanoClock,
      boolean perSource) {
    this.keyLookup = keyLookup;
    this.keyCheckedBefore = keyCheckedBefore;
    this.nanoClock = nanoClock;
    if (keyLookup == null) {
      this.failures = null; // no key is ever looked up: nothing to budget
    } else {
      long now = nanoClock.getAsLong();
      this.failures = perSource ? new FailureBudget(GATEWAY_FAILURE_BURST, GATEWAY_FAILURES_PER_SECOND, now)
          : new FailureBudget(FAILURE_BURST, FAILURES_PER_SECOND, now);
    }
    this.failuresBySource = !perSource ? null : Collections.synchronizedMap(
        new LinkedHashMap<>(64, 0.75f, true) {
          @Override
          protected boolean removeEldestEntry(Map.Entry<String, FailureBudget> eldest) {
            return size() > SOURCES;
          }
        });
  }

  /** The gateway gate's resolver ({@link #resolveKey}): unknown keys limited per client address. */
  public static IdentityResolver forGateway(Function<String, Future<String>> keyLookup, LongSupplier nanoClock) {
    return new IdentityResolver(keyLookup, false, nanoClock, true);
  }

  /**
   * The resolver of the proxy behind a gateway's gate: the gate has checked the end user's key, removed
   * it and every client-sent identity header, and set the user header to the key's user; this one
   * reads that user, and never refuses for a missing key.
   */
  public static IdentityResolver behindGateway() {
    // it looks no key up, so it keeps no unknown-key budget and reads no clock
    return new IdentityResolver(null, true, null);
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
      return lookUp(policy, key, user -> new Caller(user, tierOf(policy, user, headers)), false, null);
    }
    if (identity.requireApiKey() && !hasKey && !keyCheckedBefore) {
      return Future.succeededFuture(new Refused(Reason.KEY_REQUIRED, "an end-user key is required in "
          + identity.apiKeyHeader() + " (identity.requireApiKey)", 0));
    }
    return Future.succeededFuture(new Resolved(fromHeaders(policy, headers)));
  }

  /**
   * Gateway mode: the caller of an end user's key, whatever the policy says and whatever else the
   * request carries. The tier is the policy's for that user, else the default tier (a tier header is
   * never read). A missing key is {@link Reason#KEY_REQUIRED}. A key that cannot be checked because the
   * store is away is accepted only when it was found valid lately (as its user, under the policy's
   * {@code onStoreUnavailable}) and never under FailClosed.
   */
  public Future<Resolution> resolveKey(CompiledPolicy policy, String key) {
    return resolveKey(policy, key, null);
  }

  /** As {@link #resolveKey(CompiledPolicy, String)}; {@code source}: the client's address, for {@link #forGateway}. */
  public Future<Resolution> resolveKey(CompiledPolicy policy, String key, String source) {
    String header = policy.identity().apiKeyHeader();
    if (key == null || key.isBlank()) {
      return Future.succeededFuture(new Refused(Reason.KEY_REQUIRED, "an end user's key is required in " + header
          + " (this is a shared gateway: every request names its end user by key)", 0));
    }
    if (keyLookup == null) {
      return Future.succeededFuture(new Refused(Reason.UNKNOWN_KEY, "the key in " + header + " is not known", 0));
    }
    return lookUp(policy, key, user -> new Caller(user, tierOf(policy, user)), true, source);
  }

  /** {@code knownDuringOutage}: a key found valid lately passes as its user while the store is away. */
  private Future<Resolution> lookUp(CompiledPolicy policy, String key, Function<String, Caller> callerOf,
      boolean knownDuringOutage, String source) {
    CompiledIdentity identity = policy.identity();
    String hash = ApiKeys.hash(key.strip());
    FailureBudget own = sourceBudget(source);
    long now = nanoClock.getAsLong();
    long waitMs = knownKeys.containsKey(hash) ? 0
        : Math.max(failures.waitMs(now), own == null ? 0 : own.waitMs(now));
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
        String known = !knownDuringOutage || policy.onStoreUnavailable() == StoreFailureMode.FailClosed
            ? null : knownKeys.get(hash);
        return Future.succeededFuture(known != null ? new Resolved(callerOf.apply(known))
            : new Refused(Reason.STORE_UNAVAILABLE, "the key in " + identity.apiKeyHeader()
                + " could not be checked: the rate-limit store is unavailable", 0));
      }
      String user = found.result();
      if (user == null) {
        long at = nanoClock.getAsLong();
        failures.spend(at);
        if (own != null) {
          own.spend(at);
        }
        return Future.succeededFuture(new Refused(Reason.UNKNOWN_KEY, "the key in " + identity.apiKeyHeader()
            + " is not known", 0));
      }
      knownKeys.put(hash, user);
      return Future.succeededFuture(new Resolved(callerOf.apply(user)));
    });
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

  /** The policy's tier for {@code user}, else the default tier: no header is read. */
  static String tierOf(CompiledPolicy policy, String user) {
    String assigned = policy.users().get(user);
    return assigned != null ? assigned : policy.defaultTier();
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

  /** The failure budget of a client address (gateway mode), or null. */
  private FailureBudget sourceBudget(String source) {
    if (failuresBySource == null) {
      return null;
    }
    return failuresBySource.computeIfAbsent(source == null ? "" : source,
        k -> new FailureBudget(FAILURE_BURST, FAILURES_PER_SECOND, nanoClock.getAsLong()));
  }
}
