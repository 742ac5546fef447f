package dev.ratekeeper.sidecar.limiter;

/**
 * A limit a request is decided against, named as users see it in {@code x-ratekeeper-limited-by}
 * (DESIGN.md "Denials"). Declaration order is the order checks run in and breaks ties between
 * blocking dimensions with equal waits.
 */
public enum Dimension {
  TIER_REQUESTS_PER_MINUTE("tier.requests.perMinute", Unit.REQUESTS),
  TIER_TOKENS_PER_MINUTE("tier.tokens.perMinute", Unit.TOKENS),
  TIER_TOKENS_PER_HOUR("tier.tokens.perHour", Unit.TOKENS),
  TIER_TOKENS_PER_DAY("tier.tokens.perDay", Unit.TOKENS),
  TIER_CONCURRENCY("tier.concurrency", Unit.LEASES),
  BUDGET("budget", Unit.MICRO_USD),
  RUN_REQUESTS("run.requests", Unit.REQUESTS),
  RUN_TOKENS("run.tokens", Unit.TOKENS),
  RUN_BUDGET("run.budget", Unit.MICRO_USD),
  MODEL_REQUESTS_PER_MINUTE("model.requests.perMinute", Unit.REQUESTS),
  MODEL_TOKENS_PER_MINUTE("model.tokens.perMinute", Unit.TOKENS),
  MODEL_TOKENS_PER_DAY("model.tokens.perDay", Unit.TOKENS),
  GLOBAL_REQUESTS_PER_MINUTE("global.requests.perMinute", Unit.REQUESTS),
  GLOBAL_TOKENS_PER_MINUTE("global.tokens.perMinute", Unit.TOKENS),
  GLOBAL_BUDGET("global.budget", Unit.MICRO_USD);

  /** What a dimension counts; reconcile re-charges {@code TOKENS} and {@code MICRO_USD} and releases {@code LEASES}. */
  public enum Unit {
    REQUESTS('R'),
    TOKENS('T'),
    MICRO_USD('U'),
    LEASES('L');

    private final char code;

    Unit(char code) {
      this.code = code;
    }

    /** The one-letter code the Lua scripts use. */
    public char code() {
      return code;
    }
  }

  private final String wireName;
  private final Unit unit;

  Dimension(String wireName, Unit unit) {
    this.wireName = wireName;
    this.unit = unit;
  }

  /** The name in {@code x-ratekeeper-limited-by}, e.g. {@code tier.tokens.perMinute}. */
  public String wireName() {
    return wireName;
  }

  public Unit unit() {
    return unit;
  }

  @Override
  public String toString() {
    return wireName;
  }
}
