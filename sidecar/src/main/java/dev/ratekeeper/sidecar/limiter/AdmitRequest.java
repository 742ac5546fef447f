package dev.ratekeeper.sidecar.limiter;

import dev.ratekeeper.policy.compile.CompiledModel;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledTier;
import java.util.Objects;

/**
 * One request to decide. Keep it: reconciling needs it again ({@link ReconcileRequest}), because it
 * names every counter the admission charged.
 *
 * @param policy the policy in force; its id scopes every counter key
 * @param requestId unique per request (the proxy uses a random UUID); names the lease and the reservation record
 * @param user the end user, {@code anonymous} when the agent names none
 * @param tier the user's tier
 * @param model the policy's model entry governing the requested model, or null when none matches
 * @param scope {@link Scope#METERED} for LLM calls, {@link Scope#REQUESTS_ONLY} for unmetered paths
 * @param reservedTokens input estimate plus output cap (0 for requests-only)
 * @param reservedCostMicros what {@code reservedTokens} would cost at the model's prices (0 when unpriced)
 * @param shadow decide and count but never block (defaults to the policy's mode)
 * @param run the agent's run as named in {@code identity.runHeader}, or null outside any run
 * @param peek decide only: nothing is charged, counted or recorded (the limits an agent can see)
 * @param calls the requests this admission stands for on request rates and counts: 1, or a message
 *     batch's requests
 */
public record AdmitRequest(
    CompiledPolicy policy,
    String requestId,
    String user,
    CompiledTier tier,
    CompiledModel model,
    Scope scope,
    long reservedTokens,
    long reservedCostMicros,
    boolean shadow,
    String run,
    boolean peek,
    int calls) {

  /** Which limits apply. */
  public enum Scope {
    /** Every dimension: request and token rates, calendar quotas, concurrency, budgets. */
    METERED,
    /**
     * Unmetered paths under {@code unmeteredPaths: RequestsOnly}: the user's tier request rate and the
     * global request rate (with the tier's share of it). No tokens, budget, model or lease; nothing to reconcile.
     */
    REQUESTS_ONLY
  }

  /** Outside any run. */
  public AdmitRequest(CompiledPolicy policy, String requestId, String user, CompiledTier tier, CompiledModel model,
      Scope scope, long reservedTokens, long reservedCostMicros, boolean shadow) {
    this(policy, requestId, user, tier, model, scope, reservedTokens, reservedCostMicros, shadow, null, false, 1);
  }

  /** A call to decide and charge. */
  public AdmitRequest(CompiledPolicy policy, String requestId, String user, CompiledTier tier, CompiledModel model,
      Scope scope, long reservedTokens, long reservedCostMicros, boolean shadow, String run) {
    this(policy, requestId, user, tier, model, scope, reservedTokens, reservedCostMicros, shadow, run, false, 1);
  }

  public AdmitRequest {
    Objects.requireNonNull(policy, "policy");
    Objects.requireNonNull(policy.id(), "policy.id");
    Objects.requireNonNull(requestId, "requestId");
    Objects.requireNonNull(user, "user");
    Objects.requireNonNull(tier, "tier");
    Objects.requireNonNull(scope, "scope");
    if (calls < 1) {
      throw new IllegalArgumentException("an admission stands for at least one call");
    }
    if (reservedTokens < 0 || reservedCostMicros < 0) {
      throw new IllegalArgumentException("negative reservation");
    }
    if (scope == Scope.REQUESTS_ONLY && (model != null || reservedTokens != 0 || reservedCostMicros != 0)) {
      throw new IllegalArgumentException("a requests-only admission reserves no model, tokens or cost");
    }
  }

  /** A metered LLM call, in the policy's mode. */
  public static AdmitRequest metered(CompiledPolicy policy, String requestId, String user, CompiledTier tier,
      CompiledModel model, long reservedTokens, long reservedCostMicros) {
    return new AdmitRequest(policy, requestId, user, tier, model, Scope.METERED, reservedTokens, reservedCostMicros,
        policy.shadow());
  }

  /** An unmetered path under {@code RequestsOnly}, in the policy's mode. */
  public static AdmitRequest requestsOnly(CompiledPolicy policy, String requestId, String user, CompiledTier tier) {
    return new AdmitRequest(policy, requestId, user, tier, null, Scope.REQUESTS_ONLY, 0, 0, policy.shadow());
  }

  public AdmitRequest withShadow(boolean shadow) {
    return new AdmitRequest(policy, requestId, user, tier, model, scope, reservedTokens, reservedCostMicros, shadow,
        run, peek, calls);
  }

  /** The same call within the agent's run {@code run} (null: outside any run). */
  public AdmitRequest withRun(String run) {
    return new AdmitRequest(policy, requestId, user, tier, model, scope, reservedTokens, reservedCostMicros, shadow,
        run, peek, calls);
  }

  /** The same admission counting {@code calls} requests on every request rate and count (a batch of them). */
  public AdmitRequest withCalls(int calls) {
    return new AdmitRequest(policy, requestId, user, tier, model, scope, reservedTokens, reservedCostMicros, shadow,
        run, peek, calls);
  }

  /** Decided but never charged nor counted: what every limit of this call has left now (GET /ratekeeper/v1/limits). */
  public AdmitRequest asPeek() {
    return new AdmitRequest(policy, requestId, user, tier, model, scope, reservedTokens, reservedCostMicros, false,
        run, true, calls);
  }

  public boolean metered() {
    return scope == Scope.METERED;
  }
}
