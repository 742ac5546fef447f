package dev.ratekeeper.operator.query;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.ratekeeper.policy.api.Money;
import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.sidecar.limiter.Check;
import dev.ratekeeper.sidecar.limiter.CheckOutcome;
import dev.ratekeeper.sidecar.limiter.Dimension;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;

/**
 * The answer of {@code .../ratelimitpolicies/<name>/explain}: every limit that applies to one user,
 * what it allows, what is used, what is left, when it refills or resets, and whether it blocks now.
 * Money is exact decimal USD strings; everything else integers. Never names an API key.
 *
 * @param blockedBy the blocking limits' names, longest wait first (as {@code x-ratekeeper-limited-by})
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Explanation(String apiVersion, String kind, String namespace, String policy, String revision,
    String user, String tier, String tierSource, String model, Boolean modelAllowed, String note, String run,
    boolean shadow, String time, List<String> blockedBy, List<Limit> limits) {

  public static final String KIND = "LimitsExplanation";

  static Explanation of(PolicyId id, String revision, String user, String tier, LimitsExplainer.TierSource tierSource,
      String model, boolean modelAllowed, String note, String run, boolean shadow, long nowMs, List<Limit> limits) {
    List<String> blockedBy = limits.stream().filter(Limit::blocking)
        .sorted(Comparator.comparingLong((Limit l) -> l.waitMs() < 0 ? Long.MAX_VALUE : l.waitMs()).reversed())
        .map(Limit::dimension).distinct().toList();
    String source = switch (tierSource) {
      case USERS -> "users[]";
      case DEFAULT_TIER -> "defaultTier";
      case REQUESTED -> "--tier";
    };
    return new Explanation(QueryApi.API_VERSION, KIND, id.namespace(), id.name(), revision, user, tier, source, model,
        model == null ? null : modelAllowed, note, run, shadow, Instant.ofEpochMilli(nowMs).toString(), blockedBy,
        limits);
  }

  /**
   * One limit.
   *
   * @param dimension its name in {@code x-ratekeeper-limited-by}
   * @param scope whose counter: {@code user}, {@code run}, {@code tier <name> (globalShare)}, {@code model <entry>},
   *     {@code policy}
   * @param counter {@code rate} (token bucket), {@code quota} (calendar period), {@code concurrency}
   * @param unit {@code requests}, {@code tokens}, {@code usd}, {@code in flight}
   * @param limit a rate's bucket size (what is admitted at once from idle), a quota's or budget's amount,
   *     the most in flight
   * @param perMinute a rate's refill per minute; null otherwise
   * @param period a quota's calendar period ({@code hour}, {@code day}, {@code week}, {@code month}), or {@code run};
   *     null otherwise
   * @param used taken from {@code limit} now (a rate: what has not refilled yet)
   * @param remaining {@code limit - used}
   * @param resetMs ms until a rate is full again, a quota's period ends, or the earliest in-flight lease expires;
   *     a run's count: its idle timeout (the run is forgotten that long after its last call)
   * @param blocking the smallest possible call would be refused by this limit now
   * @param waitMs when blocking: ms until it would fit (-1: never, e.g. concurrency 0); 0 otherwise
   */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public record Limit(String dimension, String scope, String counter, String unit, Object limit, Long perMinute,
      String period, Object used, Object remaining, long resetMs, boolean blocking, long waitMs) {

    static Limit of(Check check, String modelPattern, String tier, CheckOutcome outcome) {
      Dimension dimension = check.dimension();
      long capacity = check.kind() == Check.Kind.BUCKET ? check.burst() : check.limit();
      long remaining = Math.max(0, Math.min(capacity, outcome.remaining()));
      long used = capacity - remaining;
      String scope;
      if (modelPattern != null) {
        scope = "model " + modelPattern;
      } else if (check.tierShare()) {
        scope = "tier " + tier + " (globalShare)";
      } else if (dimension.wireName().startsWith("run.")) {
        scope = "run";
      } else if (dimension.wireName().startsWith("global.")) {
        scope = "policy";
      } else {
        scope = "user";
      }
      String counter = switch (check.kind()) {
        case BUCKET -> "rate";
        case QUOTA -> "quota";
        case LEASE -> "concurrency";
      };
      boolean money = dimension.unit() == Dimension.Unit.MICRO_USD;
      Long perMinute = check.kind() == Check.Kind.BUCKET ? check.limit() * 60_000 / check.periodMs() : null;
      String period = check.period() != null ? check.period().name().toLowerCase(java.util.Locale.ROOT)
          : check.kind() == Check.Kind.QUOTA ? "run" : null;
      return new Limit(dimension.wireName(), scope, counter, unit(dimension.unit()),
          money ? Money.format(capacity) : (Object) capacity, perMinute, period,
          money ? Money.format(used) : (Object) used, money ? Money.format(remaining) : (Object) remaining,
          outcome.resetMs(), !outcome.passed(), outcome.passed() ? 0 : outcome.waitMs());
    }

    private static String unit(Dimension.Unit unit) {
      return switch (unit) {
        case REQUESTS -> "requests";
        case TOKENS -> "tokens";
        case MICRO_USD -> "usd";
        case LEASES -> "in flight";
      };
    }
  }
}
