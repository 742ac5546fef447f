package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.wire.ProviderError;
import java.util.Map;

/**
 * How a stage of the request pipeline ended a request: the value {@link Responder} turns into a
 * status, headers, a body and metrics. Every outcome carries its {@link Tags}: the provider shape of
 * an answer and the labels of the request metric.
 */
sealed interface Outcome {
  Tags tags();

  /**
   * The error shape ({@code format}) and the labels of {@code ratekeeper_requests_total}; what a stage
   * did not learn yet is {@code unknown} (or {@code none} where it does not apply).
   */
  record Tags(UpstreamFormat format, String upstream, String model, String tier) {
    Tags withModel(String label) {
      return new Tags(format, upstream, label, tier);
    }

    Tags withTier(String label) {
      return new Tags(format, upstream, model, label);
    }
  }

  /** Whether the connection stays open after the sidecar's own answer. */
  enum Connection {
    /** The body was read: keep-alive as usual. */
    KEEP,
    /** The body was not read: {@code connection: close}, so it is never drained. */
    CLOSE_AFTER,
    /** Close now, after the answer (a body that stalled). */
    CLOSE_NOW
  }

  /**
   * The sidecar answers with an error of its own and forwards nothing; {@code decision} is the
   * metric's label ({@code invalid}, {@code refused}, {@code unauthorized}, {@code error}).
   */
  record Refused(Tags tags, String decision, ProviderError error, Map<String, String> headers, Connection connection)
      implements Outcome {}

  /** A limit denies the call: 429 (or 400 when it could never pass), counted as throttled or invalid. */
  record Denied(Tags tags, Decision decision, Connection connection) implements Outcome {}

  /** The provider asked every sidecar to back off: 429 {@code upstream.cooldown}. */
  record CoolingDown(Tags tags, long remainingMs) implements Outcome {}

  /** The call is on its way upstream; the forwarder relays the answer. {@code decision}: the metric's label. */
  record Forwarded(Tags tags, String decision) implements Outcome {}

  /** The upstream call failed before an answer began (counted when it was forwarded): 502 or 504. */
  record UpstreamFailed(Tags tags, ProviderError error) implements Outcome {}

  /** A stage threw: 500 in the provider's shape. */
  record Failed(Tags tags, Throwable cause) implements Outcome {}

  /** The client went away before an answer was due: nothing to write or count. */
  record Abandoned(Tags tags) implements Outcome {}

  /**
   * The sidecar's own answer that is not an error: a JSON {@code body} with {@code status} and
   * {@code headers} (the limits endpoint's 200); {@code decision}: the metric's label.
   */
  record Answered(Tags tags, String decision, int status, Map<String, String> headers, String body)
      implements Outcome {}

  static Refused refused(Tags tags, String decision, ProviderError.Kind kind, String message, Connection connection) {
    return new Refused(tags, decision, ProviderError.of(kind, message), Map.of(), connection);
  }

  /**
   * A 429 that is not a limit of the policy (too many unknown keys, too many looks at the limits):
   * {@code retry-after} and {@code retry-after-ms} only.
   */
  static Refused retryLater(Tags tags, String decision, long retryAfterMs, String message, Connection connection) {
    return new Refused(tags, decision, ProviderError.of(ProviderError.Kind.RATE_LIMITED, message),
        Responses.retryAfter(Math.max(1, retryAfterMs)), connection);
  }

  /** The store could not decide and the policy does not go on without it. */
  static Refused storeUnavailable(Tags tags) {
    return storeUnavailable(tags, "rate-limit store unavailable", Connection.KEEP);
  }

  /** The one 503 of a store that is away: {@code what} could not be done; counted as {@code error}. */
  static Refused storeUnavailable(Tags tags, String what, Connection connection) {
    return new Refused(tags, "error", ProviderError.of(ProviderError.Kind.STORE_UNAVAILABLE,
        what + "; try again shortly"), Map.of(), connection);
  }
}
