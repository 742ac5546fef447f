package dev.ratekeeper.sidecar.limiter;

/**
 * An admission reused the id of a reservation still on record (held, or reconciled less than
 * {@link LimiterOptions#reconciledTtlMs()} ago): a caller bug, request ids must be unique.
 */
public final class DuplicateRequestException extends IllegalStateException {
  public DuplicateRequestException(String requestId) {
    super("a reservation under request id " + requestId + " is still on record");
  }
}
