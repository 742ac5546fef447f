package dev.ratekeeper.operator.status;

import dev.ratekeeper.policy.compile.Compilation;
import dev.ratekeeper.policy.validation.Violation;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The {@code Accepted} condition: was the spec compiled and made current in Redis?
 *
 * <ul>
 *   <li>True / {@value #COMPILED}: the spec compiled; its revision is current in Redis.
 *   <li>True / {@value #SECRET_MISSING}: the same, but a Secret the policy references is missing
 *       (or lacks the referenced key); the message says which and what it means for requests.
 *   <li>False / {@value #INVALID_SPEC}: the spec was refused; the message names every offending
 *       field path, and says which revision stays enforced.
 *   <li>Unknown / {@value #STORE_UNAVAILABLE}: Redis could not be reached; the operator retries.
 * </ul>
 */
public final class Acceptance {
  public static final String COMPILED = "Compiled";
  public static final String SECRET_MISSING = "SecretMissing";
  public static final String INVALID_SPEC = "InvalidSpec";
  public static final String STORE_UNAVAILABLE = "StoreUnavailable";
  public static final String RECONCILE_FAILED = "ReconcileFailed";

  private Acceptance() {}

  /** The spec compiled to {@code revision}, now current; {@code secretProblems} says what referenced Secrets lack. */
  public static ConditionState accepted(String revision, List<String> secretProblems) {
    String message = "revision " + revision + " is compiled and current in Redis";
    if (secretProblems.isEmpty()) {
      return ConditionState.isTrue(COMPILED, message);
    }
    return ConditionState.isTrue(SECRET_MISSING, message + "; " + String.join("; ", secretProblems));
  }

  /** The spec was refused; {@code lastGoodRevision} (null when none) stays enforced. */
  public static ConditionState invalid(Compilation compilation, String lastGoodRevision) {
    String violations = compilation.violations().stream().map(Violation::toString)
        .collect(Collectors.joining("; "));
    String kept = lastGoodRevision == null
        ? "no revision is enforced yet"
        : "revision " + lastGoodRevision + " stays enforced";
    return ConditionState.isFalse(INVALID_SPEC, "spec refused (" + kept + "): " + violations);
  }

  /** Redis could not be reached while reconciling. */
  public static ConditionState storeUnavailable(String detail) {
    return ConditionState.unknown(STORE_UNAVAILABLE, "Redis is unreachable (" + detail
        + "); retrying with backoff. Sidecars keep enforcing the revision they have");
  }

  /** Reconciling failed for a reason other than Redis; the operator retries. */
  public static ConditionState failed(String detail) {
    return ConditionState.unknown(RECONCILE_FAILED, "reconcile failed (" + detail + "); retrying with backoff");
  }
}
