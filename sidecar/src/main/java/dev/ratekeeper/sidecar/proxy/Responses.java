package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.api.Money;
import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.sidecar.limiter.BudgetStatus;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.DimensionStatus;
import dev.ratekeeper.sidecar.limiter.Dimension;
import dev.ratekeeper.sidecar.wire.ProviderError;
import io.vertx.core.http.HttpServerResponse;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** The answers the sidecar writes itself, in the provider's error shape and with DESIGN.md's headers. */
final class Responses {
  /** Longer than this, waiting cannot help soon: the Node SDKs would otherwise sleep as long as told. */
  static final long SHOULD_RETRY_MAX_MS = 60_000;

  private Responses() {}

  static void error(HttpServerResponse resp, UpstreamFormat format, ProviderError error) {
    if (resp.ended() || resp.closed()) {
      return;
    }
    if (resp.headWritten()) {
      // an answer is already on its way: it can only be cut short
      resp.reset();
      return;
    }
    resp.setStatusCode(error.status()).putHeader("content-type", "application/json").end(error.body(format));
  }

  /** {@code retry-after} in whole seconds, rounded up, and {@code retry-after-ms}: how long to wait. */
  static Map<String, String> retryAfter(long ms) {
    return Map.of("retry-after", Long.toString((ms + 999) / 1000), "retry-after-ms", Long.toString(ms));
  }

  /**
   * A denial: 429 with {@code retry-after} (whole seconds, rounded up), {@code retry-after-ms},
   * {@code x-ratekeeper-limited-by} and {@code x-should-retry: false} when waiting cannot help soon;
   * or 400 when the request could never pass even from empty.
   */
  static void denied(HttpServerResponse resp, UpstreamFormat format, Decision verdict) {
    String dims = verdict.limitedByHeader();
    if (verdict.neverPassable()) {
      resp.putHeader("x-ratekeeper-limited-by", dims);
      error(resp, format, ProviderError.of(ProviderError.Kind.INVALID_REQUEST,
          "request can never pass: its reservation exceeds the whole of " + dims));
      return;
    }
    long ms = Math.max(0, verdict.retryAfterMs());
    retryAfter(ms).forEach(resp::putHeader);
    resp.putHeader("x-ratekeeper-limited-by", dims);
    if (!verdict.retryHelpsSoon() || ms > SHOULD_RETRY_MAX_MS) {
      resp.putHeader("x-should-retry", "false");
    }
    boolean budget = verdict.limitedBy().stream()
        .anyMatch(d -> d == Dimension.BUDGET || d == Dimension.GLOBAL_BUDGET || d == Dimension.RUN_BUDGET);
    ProviderError.Kind kind = budget ? ProviderError.Kind.BUDGET_EXHAUSTED : ProviderError.Kind.RATE_LIMITED;
    String message = budget
        ? "Ratekeeper: budget exhausted (" + dims + "); retry after " + (ms + 999) / 1000 + " s"
        : "Ratekeeper: rate limit reached (" + dims + "); retry after " + (ms + 999) / 1000 + " s";
    error(resp, format, ProviderError.of(kind, message));
  }

  /** The provider asked every sidecar to back off: 429 {@code upstream.cooldown} until the cooldown ends. */
  static void cooldown(HttpServerResponse resp, UpstreamFormat format, String upstream, long remainingMs) {
    long ms = Math.max(1, remainingMs);
    retryAfter(ms).forEach(resp::putHeader);
    resp.putHeader("x-ratekeeper-limited-by", "upstream.cooldown");
    if (ms > SHOULD_RETRY_MAX_MS) {
      resp.putHeader("x-should-retry", "false");
    }
    error(resp, format, ProviderError.of(ProviderError.Kind.RATE_LIMITED, "Ratekeeper: upstream " + upstream
        + " is cooling down after the provider's rate limit; retry after " + (ms + 999) / 1000 + " s"));
  }

  /** Headers added to an allowed response (the provider's own headers stay untouched). */
  static Map<String, String> allowedHeaders(Decision verdict, int warnAtPercent) {
    Map<String, String> headers = new LinkedHashMap<>();
    if (verdict.remainingRequests() != null) {
      headers.put("x-ratekeeper-remaining-requests", Long.toString(verdict.remainingRequests()));
    }
    if (verdict.remainingTokens() != null) {
      headers.put("x-ratekeeper-remaining-tokens", Long.toString(verdict.remainingTokens()));
    }
    if (verdict.remainingBudgetMicros() != null) {
      headers.put("x-ratekeeper-budget-remaining-usd", Money.format(Math.max(0, verdict.remainingBudgetMicros())));
    }
    String warning = budgetWarning(verdict, warnAtPercent);
    if (warning != null) {
      headers.put("x-ratekeeper-budget-warning", warning);
    }
    if (!verdict.limitedBy().isEmpty()) {
      headers.put("x-ratekeeper-shadow-limited-by", verdict.limitedByHeader());
    }
    rateLimitHeaders(verdict, headers);
    return headers;
  }

  /**
   * The IETF {@code RateLimit-Policy} / {@code RateLimit} headers (draft-ietf-httpapi-ratelimit-headers)
   * for the per-minute rates of the call: {@code "tier.requests.perMinute";q=60;w=60} and
   * {@code "tier.requests.perMinute";r=59;t=1} (remaining now, seconds until the bucket is full).
   */
  private static void rateLimitHeaders(Decision verdict, Map<String, String> headers) {
    List<DimensionStatus> statuses = verdict.dimensions();
    StringBuilder limits = null;
    for (DimensionStatus status : statuses) {
      if (!RATE_HEADER_DIMENSIONS.contains(status.dimension()) || status.tierShare()) {
        continue;
      }
      if (limits == null) {
        limits = new StringBuilder(128);
      } else {
        limits.append(", ");
      }
      limits.append(QUOTED.get(status.dimension())).append(";r=").append(Math.max(0, status.remaining()))
          .append(";t=").append((Math.max(0, status.resetMs()) + 999) / 1000);
    }
    if (limits != null) {
      headers.put("ratelimit-policy", ratePolicy(statuses));
      headers.put("ratelimit", limits.toString());
    }
  }

  /** The per-minute dimensions the IETF headers name; {@code "<name>"} for each. */
  private static final Set<Dimension> RATE_HEADER_DIMENSIONS = EnumSet.noneOf(Dimension.class);
  private static final Map<Dimension, String> QUOTED = new EnumMap<>(Dimension.class);

  static {
    for (Dimension dimension : Dimension.values()) {
      if (dimension.wireName().endsWith(".perMinute")) {
        RATE_HEADER_DIMENSIONS.add(dimension);
      }
      QUOTED.put(dimension, '"' + dimension.wireName() + '"');
    }
  }

  /**
   * The last {@code RateLimit-Policy} value made, with the dimensions and limits it names: the same
   * for every call of a tier and model until the policy changes, so it is made once, not per call.
   */
  private record RatePolicy(List<Dimension> dimensions, long[] limits, String value) {}

  private static volatile RatePolicy lastRatePolicy;

  private static String ratePolicy(List<DimensionStatus> statuses) {
    RatePolicy last = lastRatePolicy;
    if (last != null && sameRates(last, statuses)) {
      return last.value();
    }
    List<Dimension> dimensions = new ArrayList<>();
    List<Long> limits = new ArrayList<>();
    StringBuilder value = new StringBuilder();
    for (DimensionStatus status : statuses) {
      if (!RATE_HEADER_DIMENSIONS.contains(status.dimension()) || status.tierShare()) {
        continue;
      }
      if (value.length() > 0) {
        value.append(", ");
      }
      value.append(QUOTED.get(status.dimension())).append(";q=").append(status.limit()).append(";w=60");
      dimensions.add(status.dimension());
      limits.add(status.limit());
    }
    RatePolicy made = new RatePolicy(List.copyOf(dimensions), limits.stream().mapToLong(Long::longValue).toArray(),
        value.toString());
    lastRatePolicy = made;
    return made.value();
  }

  private static boolean sameRates(RatePolicy policy, List<DimensionStatus> statuses) {
    int i = 0;
    for (DimensionStatus status : statuses) {
      if (!RATE_HEADER_DIMENSIONS.contains(status.dimension()) || status.tierShare()) {
        continue;
      }
      if (i >= policy.limits().length || policy.dimensions().get(i) != status.dimension()
          || policy.limits()[i] != status.limit()) {
        return false;
      }
      i++;
    }
    return i == policy.limits().length;
  }

  /**
   * Which budgets reached {@code warnAtPercent} counting committed spend and in-flight reservations,
   * this request's included: e.g. {@code budget 83%} or {@code budget 83%, global.budget 91%}; null
   * when none did.
   */
  static String budgetWarning(Decision verdict, int warnAtPercent) {
    StringBuilder out = new StringBuilder();
    appendWarning(out, "budget", verdict.userBudget(), warnAtPercent);
    appendWarning(out, "global.budget", verdict.globalBudget(), warnAtPercent);
    appendWarning(out, "run.budget", verdict.runBudget(), warnAtPercent);
    return out.length() == 0 ? null : out.toString();
  }

  private static void appendWarning(StringBuilder out, String name, BudgetStatus status, int warnAtPercent) {
    if (status != null && status.limitMicros() > 0 && status.reaches(warnAtPercent)) {
      if (out.length() > 0) {
        out.append(", ");
      }
      out.append(name).append(' ').append(status.usedMicros() * 100 / status.limitMicros()).append('%');
    }
  }
}
