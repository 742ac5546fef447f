package dev.ratekeeper.policy.validation;

import dev.ratekeeper.policy.api.Durations;
import dev.ratekeeper.policy.api.GlobalLimits;
import dev.ratekeeper.policy.api.Names;
import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import dev.ratekeeper.policy.api.RunLimits;
import dev.ratekeeper.policy.api.Tier;
import dev.ratekeeper.policy.api.TierTokens;
import dev.ratekeeper.policy.compile.PolicyCompiler;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/** Rules of {@code spec.tiers[]}: names, limits, queueing, model allow-lists, and requests that could never pass. */
final class TierValidator {
  static final int MAX_TIERS = 32;
  static final int MAX_NAME_LENGTH = 63;
  static final int MAX_PRIORITY = 1000;
  static final int MAX_MODELS = 64;
  /** Longest a request may wait for capacity: longer holds client connections past what SDK timeouts expect. */
  static final long MAX_QUEUE_WAIT_MS = 5 * 60_000L;
  static final long MAX_RUN_IDLE_MS = 7 * 24 * 3_600_000L;

  static final String NAME_RULE =
      "a valid name (lower-case letters, digits and dashes, starting with a letter, not ending with a dash)";
  private static final Pattern NAME = Pattern.compile(Names.PATTERN);

  private TierValidator() {}

  /** Checks every tier; returns the declared tier names (valid or not) with their first index. */
  static Map<String, Integer> validate(RateLimitPolicySpec spec, Violations v) {
    Map<String, Integer> names = new LinkedHashMap<>();
    if (spec.tiers == null || spec.tiers.isEmpty()) {
      v.add("spec.tiers", "at least one tier is required");
      return names;
    }
    v.items("spec.tiers", spec.tiers, MAX_TIERS, (tier, i) -> {
      String path = "spec.tiers[" + i + "]";
      if (name(path + ".name", tier.name, v)) {
        Integer first = names.putIfAbsent(tier.name, i);
        if (first != null) {
          v.add(path + ".name", "duplicate tier " + Violations.quote(tier.name) + ", already defined at spec.tiers["
              + first + "]");
        }
      } else if (tier.name != null && !tier.name.isEmpty()) {
        names.putIfAbsent(tier.name, i);
      }
      tier(path, tier, spec, v);
    });
    return names;
  }

  /** A tier or upstream name; true when valid. */
  static boolean name(String path, String name, Violations v) {
    return v.requiredText(path, name) && v.maxLength(path, name, MAX_NAME_LENGTH)
        && v.matches(path, name, NAME, NAME_RULE);
  }

  private static void tier(String path, Tier tier, RateLimitPolicySpec spec, Violations v) {
    v.range(path + ".priority", tier.priority, 0, MAX_PRIORITY, false);
    if (tier.requests != null) {
      v.rate(path + ".requests", tier.requests.perMinute, tier.requests.burst);
    }
    TierTokens tokens = tier.tokens;
    if (tokens != null) {
      v.rate(path + ".tokens", tokens.perMinute, tokens.burst);
      v.limit(path + ".tokens.perHour", tokens.perHour);
      v.limit(path + ".tokens.perDay", tokens.perDay);
      v.limit(path + ".tokens.maxPerRequest", tokens.maxPerRequest);
    }
    v.limit(path + ".concurrency", tier.concurrency);
    v.budget(path + ".budget", tier.budget);
    v.items(path + ".models", tier.models, MAX_MODELS, (glob, j) -> v.nonEmpty(path + ".models[" + j + "]", glob));
    boolean shareOk = v.range(path + ".globalShare", tier.globalShare, 1, 100, true);
    maxQueueWait(path + ".maxQueueWait", tier.maxQueueWait, v);
    run(path + ".run", tier.run, v);
    reservationFits(path, tier, shareOk || tier.globalShare == null, spec, v);
  }

  /** Run caps: at least one of usd, tokens, requests; a positive budget; an idle timeout of 1s to 7d. */
  private static void run(String path, RunLimits run, Violations v) {
    if (run == null) {
      return;
    }
    if (run.usd == null && run.tokens == null && run.requests == null) {
      v.add(path, "sets no cap: give usd, tokens or requests (or leave run out)");
    }
    v.money(path + ".usd", run.usd, false).ifPresent(micros -> {
      if (micros == 0) {
        v.add(path + ".usd", "must be greater than 0 (a zero budget admits no priced request)");
      }
    });
    v.limit(path + ".tokens", run.tokens);
    v.limit(path + ".requests", run.requests);
    if (run.idleTimeout != null) {
      Optional<Long> millis = Durations.parseMillis(run.idleTimeout);
      if (millis.isEmpty()) {
        v.add(path + ".idleTimeout", Violations.quote(run.idleTimeout)
            + " is not a duration: write e.g. 30m, 1h or 2h30m");
      } else if (millis.get() < 1_000 || millis.get() > MAX_RUN_IDLE_MS) {
        v.add(path + ".idleTimeout", "must be between 1s and 7 days (168h)");
      }
    }
  }

  private static void maxQueueWait(String path, String text, Violations v) {
    if (text == null) {
      return;
    }
    Optional<Long> millis = Durations.parseMillis(text);
    if (millis.isEmpty()) {
      v.add(path, Violations.quote(text) + " is not a duration: write e.g. 0s, 500ms, 2s or 1m30s");
    } else if (millis.get() > MAX_QUEUE_WAIT_MS) {
      v.add(path, "must be at most 5m");
    }
  }

  /**
   * The biggest output reservation a request of this tier can make (its maxPerRequest, or
   * spec.defaultMaxTokens when it has none) must fit in every token bucket and quota the tier is
   * subject to; otherwise such requests could never pass, however long they wait.
   */
  private static void reservationFits(String path, Tier tier, boolean shareOk, RateLimitPolicySpec spec,
      Violations v) {
    TierTokens tokens = tier.tokens;
    List<String> exceeded = new ArrayList<>();
    Long maxPerRequest = tokens == null ? null : tokens.maxPerRequest;
    long reservation;
    if (maxPerRequest != null) {
      if (maxPerRequest < 1 || maxPerRequest > Violations.MAX_COUNT) {
        return;
      }
      reservation = maxPerRequest;
    } else {
      if (spec.defaultMaxTokens != null && (spec.defaultMaxTokens < 1 || spec.defaultMaxTokens > Violations.MAX_COUNT)) {
        return;
      }
      reservation = spec.defaultMaxTokens == null ? PolicyCompiler.DEFAULT_MAX_TOKENS : spec.defaultMaxTokens;
    }
    if (tokens != null) {
      if (valid(tokens.burst) && valid(tokens.perMinute)) {
        bound(exceeded, reservation, tokens.burst, "tokens.burst " + tokens.burst);
      } else if (tokens.burst == null && valid(tokens.perMinute)) {
        bound(exceeded, reservation, tokens.perMinute,
            "tokens.perMinute " + tokens.perMinute + " (the bucket size when burst is absent)");
      }
      if (valid(tokens.perHour)) {
        bound(exceeded, reservation, tokens.perHour, "tokens.perHour " + tokens.perHour);
      }
      if (valid(tokens.perDay)) {
        bound(exceeded, reservation, tokens.perDay, "tokens.perDay " + tokens.perDay);
      }
    }
    Long globalBucket = globalTokenBucket(spec.global);
    if (globalBucket != null && shareOk) {
      int share = tier.globalShare == null ? 100 : tier.globalShare;
      long tierShare = Math.max(1, globalBucket * share / 100);
      bound(exceeded, reservation, tierShare, share == 100
          ? "the spec.global.tokens bucket " + globalBucket
          : tierShare + ", its " + share + "% globalShare of the spec.global.tokens bucket " + globalBucket);
    }
    if (exceeded.isEmpty()) {
      return;
    }
    String bounds = String.join(" and ", exceeded);
    if (maxPerRequest != null) {
      v.add(path + ".tokens.maxPerRequest", maxPerRequest + " is more than " + bounds
          + ", so requests asking for that many output tokens could never pass; lower maxPerRequest or raise the limit");
    } else {
      v.add(path + ".tokens.maxPerRequest", "is absent, so requests that set no output cap reserve"
          + " spec.defaultMaxTokens " + reservation + " output tokens, more than " + bounds
          + "; such requests could never pass: set maxPerRequest or lower spec.defaultMaxTokens");
    }
  }

  private static Long globalTokenBucket(GlobalLimits global) {
    if (global == null || global.tokens == null || !valid(global.tokens.perMinute)) {
      return null;
    }
    if (global.tokens.burst == null) {
      return global.tokens.perMinute;
    }
    return valid(global.tokens.burst) ? global.tokens.burst : null;
  }

  private static boolean valid(Long limit) {
    return limit != null && limit >= 1 && limit <= Violations.MAX_COUNT;
  }

  private static void bound(List<String> exceeded, long reservation, long bound, String label) {
    if (reservation > bound) {
      exceeded.add(label);
    }
  }
}
