package dev.ratekeeper.operator.store;

/** Redis could not be reached or answered with an error; the reconcile is retried with backoff. */
public final class StoreUnavailableException extends RuntimeException {
  public StoreUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }

  /** A short description for status messages: what failed, without stack or connection secrets. */
  public String detail() {
    Throwable root = getCause();
    while (root != null && root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    String cause = root == null || root.getMessage() == null ? "" : ": " + root.getMessage();
    return getMessage() + cause;
  }
}
