package dev.ratekeeper.sidecar.wire;

/**
 * What a provider's answer has shown of its usage while it was relayed: a stream's events
 * ({@link SseUsageTracker}) or a JSON body's tail. The settlement of the call decides from it what
 * is charged.
 */
public interface AnswerUsage {
  /** Whether the provider's own usage figures were seen. */
  boolean reported();

  /** What the call used if the answer stops here; {@code inputEstimate} stands in for an input not yet reported. */
  Usage soFar(long inputEstimate);

  /**
   * What the call used when the answer ended normally, or null when the answer showed nothing to
   * go by (then the reservation is charged).
   */
  Usage atEnd(long inputEstimate, long outputCap);
}
