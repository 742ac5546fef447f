package dev.ratekeeper.sidecar.limiter;

import io.vertx.core.Future;

/**
 * Where limits are decided: {@code RedisLimiterStore} (one atomic script call, shared by every
 * sidecar of a policy) or {@code InMemoryLimiterStore} (this process only). Both have the same
 * semantics, checked by one behaviour suite.
 *
 * <p>Failures (store unreachable, bad reply) fail the future; a denial is a successful {@link Decision}.
 */
public interface LimiterStore {

  /**
   * Decides every dimension of {@code request} at once and charges all of them, or none when any
   * does not fit (in shadow mode: charges all regardless). A metered admission that is allowed
   * leaves a reservation record and a lease that {@link #reconcile} settles. Fails with
   * {@link DuplicateRequestException} when a reservation under the same request id is still on record.
   */
  Future<Decision> admit(AdmitRequest request);

  /** Charges actual usage in place of the reservation and releases the lease. Idempotent per request id. */
  Future<ReconcileResult> reconcile(ReconcileRequest request);

  /**
   * For requests that failed before the upstream answered: reconcile with zero usage (refunds the
   * reservation, releases the lease).
   */
  default Future<ReconcileResult> release(AdmitRequest admitted) {
    return reconcile(ReconcileRequest.release(admitted));
  }

  /**
   * Gives back everything the admission of {@code admitted} charged, request counts included, as if
   * it had never been made (a call decided again on another model). Idempotent; a no-op once the
   * admission was reconciled.
   */
  Future<Void> refund(AdmitRequest admitted);
}
