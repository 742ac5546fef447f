package dev.ratekeeper.operator.query;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.ratekeeper.operator.status.Enforcement;
import dev.ratekeeper.operator.status.Heartbeat;
import dev.ratekeeper.operator.status.UsageCounters;
import dev.ratekeeper.operator.store.FleetSnapshot;
import dev.ratekeeper.operator.store.RedisPolicyStore;
import dev.ratekeeper.policy.api.Money;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.sidecar.limiter.LimitPlan;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * {@code top} and {@code enforcement} of one policy, from what the sidecars left in Redis: the usage
 * statistics of the current period (the same keys and period as {@code status.usage}) and the
 * heartbeats (the same rule as the {@code Enforced} condition).
 */
public final class FleetView {
  public static final String TOP_KIND = "UsageTop";
  public static final String ENFORCEMENT_KIND = "Enforcement";

  private final RedisPolicyStore store;
  private final Duration liveness;

  public FleetView(RedisPolicyStore store, Duration liveness) {
    this.store = store;
    this.liveness = liveness;
  }

  /** Spend, requests and throttles this period, and the heaviest users (at most 10, highest spend first). */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public record Top(String apiVersion, String kind, String namespace, String policy, String period, String spendUsd,
      long requests, long throttled, List<User> users) {}

  /** One user of {@link Top}; {@code tier} and {@code tokens} are null when not recorded. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public record User(String user, String tier, String spendUsd, Long tokens) {}

  /**
   * The revision sidecars are told to enforce and, for each sidecar that reported (and is not pruned
   * yet), the revision it enforces and the build it runs.
   */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public record Enforced(String apiVersion, String kind, String namespace, String policy, String revision,
      int live, int synced, String message, List<Sidecar> sidecars) {}

  /**
   * One sidecar's heartbeat.
   *
   * @param revision the revision it enforces, null when its short-lived revision key has expired
   * @param version its build version ({@code unknown} when it runs from classes built outside Maven),
   *     null when it did not report one (it predates the build hash, or that hash has expired)
   * @param mode {@code sidecar} or {@code gateway}, null when not reported
   * @param live it reported within the liveness window
   */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public record Sidecar(String id, String lastSeen, long secondsAgo, String revision, String version, String mode,
      boolean live) {}

  public Top top(PolicyId id) {
    CompiledPolicy policy = current(id);
    long now = store.serverTimeMillis();
    String period = LimitPlan.statsPeriod(policy).id(now);
    UsageCounters usage = store.peekFleet(id, now, period).usage();
    List<User> users = usage.topSpenders().stream()
        .sorted(Comparator.comparingLong(UsageCounters.Spender::spendMicros).reversed()
            .thenComparing(UsageCounters.Spender::user))
        .map(s -> new User(s.user(), s.tier(), Money.format(s.spendMicros()), s.tokens()))
        .toList();
    return new Top(QueryApi.API_VERSION, TOP_KIND, id.namespace(), id.name(), period, Money.format(usage.spendMicros()),
        usage.requests(), usage.throttled(), users);
  }

  public Enforced enforcement(PolicyId id) {
    long now = store.serverTimeMillis();
    String revision = store.currentRevision(id).orElse(null);
    FleetSnapshot fleet = store.peekFleet(id, now, "-");
    Enforcement.Report report = Enforcement.evaluate(fleet.heartbeats(), revision, now, liveness);
    long oldest = now - liveness.toMillis();
    List<Sidecar> sidecars = fleet.heartbeats().stream()
        .sorted(Comparator.comparing(Heartbeat::sidecarId))
        .map(h -> new Sidecar(h.sidecarId(), Instant.ofEpochMilli(h.lastSeenMs()).toString(),
            Math.max(0, (now - h.lastSeenMs()) / 1000), h.revision(), h.version(), h.mode(), h.lastSeenMs() >= oldest))
        .toList();
    return new Enforced(QueryApi.API_VERSION, ENFORCEMENT_KIND, id.namespace(), id.name(), revision,
        report.sidecars().total, report.sidecars().synced, report.condition().message(), sidecars);
  }

  private CompiledPolicy current(PolicyId id) {
    Optional<CompiledPolicy> policy = store.currentPolicy(id);
    return policy.orElseThrow(() -> new LimitsExplainer.ExplainException(404,
        "policy " + id + " has no compiled revision in Redis (not accepted yet, or the operator cannot reach Redis)"));
  }
}
