package dev.ratekeeper.sidecar.limiter;

import dev.ratekeeper.policy.api.BudgetPeriod;
import dev.ratekeeper.policy.api.Mode;
import dev.ratekeeper.policy.api.StoreFailureMode;
import dev.ratekeeper.policy.compile.CompiledRun;
import dev.ratekeeper.policy.api.UnmeteredPaths;
import dev.ratekeeper.policy.compile.CompiledBudget;
import dev.ratekeeper.policy.compile.CompiledGlobal;
import dev.ratekeeper.policy.compile.CompiledIdentity;
import dev.ratekeeper.policy.compile.CompiledModel;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledTier;
import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.policy.compile.Rate;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Compiled policies for limiter tests, built directly so that each test sets exactly the limits it
 * exercises (absent = unlimited).
 */
public final class TestPolicy {
  public static final PolicyId ID = new PolicyId("team-a", "agents");

  private final List<CompiledTier> tiers = new ArrayList<>();
  private final List<CompiledModel> models = new ArrayList<>();
  private CompiledGlobal global = CompiledGlobal.UNLIMITED;
  private Mode mode = Mode.Enforce;
  private StoreFailureMode onStoreUnavailable = StoreFailureMode.LocalFallback;
  private PolicyId id = ID;

  /** A policy compiled from RateLimitPolicy YAML, as the sidecar would read it from a file. */
  public static CompiledPolicy compile(String yaml) {
    try {
      dev.ratekeeper.policy.compile.PolicyDocument doc = dev.ratekeeper.policy.compile.PolicyDocument.parse(yaml);
      dev.ratekeeper.policy.compile.Compilation compilation =
          dev.ratekeeper.policy.compile.PolicyCompiler.compile(doc.id(), doc.spec());
      if (!compilation.ok()) {
        throw new IllegalArgumentException(compilation.violations().toString());
      }
      return compilation.policy();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  public static TestPolicy policy() {
    return new TestPolicy();
  }

  /** Another policy than {@link #ID} (another namespace: other keys, another Cluster slot). */
  public TestPolicy id(String namespace, String name) {
    this.id = new PolicyId(namespace, name);
    return this;
  }

  public TestPolicy tier(Tier tier) {
    tiers.add(tier.build());
    return this;
  }

  public TestPolicy model(CompiledModel model) {
    models.add(model);
    return this;
  }

  public TestPolicy global(Rate requests, Rate tokensPerMinute, CompiledBudget budget) {
    global = new CompiledGlobal(requests, tokensPerMinute, budget);
    return this;
  }

  public TestPolicy onStoreUnavailable(StoreFailureMode mode) {
    onStoreUnavailable = mode;
    return this;
  }

  public TestPolicy shadow() {
    mode = Mode.Shadow;
    return this;
  }

  public CompiledPolicy build() {
    return new CompiledPolicy(CompiledPolicy.SCHEMA_VERSION, id, "test", mode,
        new CompiledIdentity("X-Ratekeeper-User", "X-Ratekeeper-Tier", false, "X-Ratekeeper-Api-Key", null),
        tiers.get(0).name(), 4096, List.copyOf(tiers), Map.of(), List.copyOf(models), global, 80, false, List.of(),
        UnmeteredPaths.RequestsOnly, onStoreUnavailable);
  }

  public static Rate perMinute(long perMinute, long burst) {
    return Rate.perMinute(perMinute, burst);
  }

  public static Rate perMinute(long perMinute) {
    return Rate.perMinute(perMinute, null);
  }

  public static CompiledBudget budget(long micros, BudgetPeriod period) {
    return new CompiledBudget(micros, period);
  }

  public static CompiledModel model(String pattern, Rate requests, Rate tokensPerMinute, Long tokensPerDay) {
    return new CompiledModel(pattern, requests, tokensPerMinute, tokensPerDay, null, null);
  }

  public static Tier tier(String name) {
    return new Tier(name);
  }

  /** A tier with no limits until set. */
  public static final class Tier {
    private final String name;
    private Rate requests;
    private Rate tokensPerMinute;
    private Long tokensPerHour;
    private Long tokensPerDay;
    private Integer concurrency;
    private CompiledBudget budget;
    private int globalShare = 100;
    private CompiledRun run;

    private Tier(String name) {
      this.name = name;
    }

    public Tier requests(Rate rate) {
      requests = rate;
      return this;
    }

    public Tier tokensPerMinute(Rate rate) {
      tokensPerMinute = rate;
      return this;
    }

    public Tier tokensPerHour(long tokens) {
      tokensPerHour = tokens;
      return this;
    }

    public Tier tokensPerDay(long tokens) {
      tokensPerDay = tokens;
      return this;
    }

    public Tier concurrency(int leases) {
      concurrency = leases;
      return this;
    }

    public Tier budget(long micros, BudgetPeriod period) {
      budget = new CompiledBudget(micros, period);
      return this;
    }

    public Tier run(Long budgetMicros, Long tokens, Long requests, long idleTimeoutMs) {
      run = new CompiledRun(budgetMicros, tokens, requests, idleTimeoutMs);
      return this;
    }

    public Tier globalShare(int percent) {
      globalShare = percent;
      return this;
    }

    CompiledTier build() {
      return new CompiledTier(name, 0, requests, tokensPerMinute, tokensPerHour, tokensPerDay, null, concurrency, budget,
          List.of(), globalShare, 0, run);
    }
  }
}
