package dev.ratekeeper.operator.reconcile;

import dev.ratekeeper.operator.OperatorSettings;
import dev.ratekeeper.operator.admin.OperatorMetrics;
import dev.ratekeeper.operator.api.RateLimitPolicy;
import dev.ratekeeper.operator.secrets.ApiKeyHashes;
import dev.ratekeeper.operator.secrets.SecretKeysStore;
import dev.ratekeeper.operator.secrets.SecretReferences;
import dev.ratekeeper.operator.secrets.TenantCredentials;
import dev.ratekeeper.operator.status.Acceptance;
import dev.ratekeeper.operator.status.Announcement;
import dev.ratekeeper.operator.status.ConditionState;
import dev.ratekeeper.operator.status.Enforcement;
import dev.ratekeeper.operator.status.StatusBuilder;
import dev.ratekeeper.operator.status.UsagePeriod;
import dev.ratekeeper.operator.status.UsageRefresh;
import dev.ratekeeper.operator.status.UsageReport;
import dev.ratekeeper.operator.store.FleetSnapshot;
import dev.ratekeeper.operator.store.PublishResult;
import dev.ratekeeper.operator.store.RedisPolicyStore;
import dev.ratekeeper.operator.store.StoreUnavailableException;
import dev.ratekeeper.policy.api.RateLimitPolicyStatus;
import dev.ratekeeper.policy.compile.Compilation;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.PolicyCompiler;
import dev.ratekeeper.policy.compile.PolicyId;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.ErrorStatusUpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.LongSupplier;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reconciles a RateLimitPolicy into Redis and reports what the fleet enforces and spends. Thin:
 * it reads (spec, referenced Secrets, Redis), calls the pure compiler and status functions, writes
 * (revision, API-key hashes) and returns the status to patch — only when it changed, and for usage
 * alone at most once a minute. Every policy
 * is revisited every refresh interval so heartbeats and usage stay current; a failure (Redis down)
 * is retried with backoff and shown as {@code Accepted=Unknown/StoreUnavailable}.
 */
@ControllerConfiguration(name = RateLimitPolicyReconciler.NAME, finalizerName = RateLimitPolicyReconciler.FINALIZER)
public final class RateLimitPolicyReconciler implements Reconciler<RateLimitPolicy>, Cleaner<RateLimitPolicy> {
  public static final String NAME = "ratelimitpolicy";
  /** Held until the policy's configuration is removed from Redis. */
  public static final String FINALIZER = "ratekeeper.dev/redis-cleanup";
  static final String SECRET_INDEX = "ratekeeper.dev/referenced-secrets";
  private static final Logger LOG = LoggerFactory.getLogger(RateLimitPolicyReconciler.class);

  private final RedisPolicyStore store;
  private final OperatorSettings settings;
  private final OperatorMetrics metrics;
  private final LongSupplier fleetClock;
  private final PolicyEvents events;
  private final UsageRefresh usageRefresh = new UsageRefresh(UsageRefresh.DEFAULT_INTERVAL);
  private final UsageEvents usageEvents = new UsageEvents();
  private volatile InformerEventSource<Secret, RateLimitPolicy> secrets;

  public RateLimitPolicyReconciler(RedisPolicyStore store, OperatorSettings settings, OperatorMetrics metrics) {
    this.store = store;
    this.settings = settings;
    this.metrics = metrics;
    this.fleetClock = settings.fleetClock() != null ? settings.fleetClock() : store::serverTimeMillis;
    this.events = new PolicyEvents(settings.clock());
  }

  /**
   * Watches the Secrets policies reference; a changed Secret re-reconciles every policy naming it.
   * The cache holds no Secret's values (SecretKeysStore): which Secrets exist and their key names
   * only; the values of the API-key Secret are read with a GET when its policy is reconciled.
   * With a Secret selector (--secret-selector) the watch sees only the Secrets it matches; a
   * referenced Secret without the label counts as missing.
   */
  @Override
  public List<EventSource<?, RateLimitPolicy>> prepareEventSources(EventSourceContext<RateLimitPolicy> context) {
    context.getPrimaryCache().addIndexer(SECRET_INDEX, policy -> SecretReferences.namesIn(policy.getSpec()).stream()
        .map(name -> indexKey(policy.getMetadata().getNamespace(), name))
        .toList());
    var config = InformerEventSourceConfiguration.from(Secret.class, RateLimitPolicy.class)
        .withName("referenced-secrets")
        .withNamespacesInheritedFromController()
        .withItemStore(new SecretKeysStore())
        // null = every Secret of the watched namespaces; otherwise only those the selector matches
        .withLabelSelector(settings.secretSelector())
        .withSecondaryToPrimaryMapper(secret -> context.getPrimaryCache()
            .byIndex(SECRET_INDEX, indexKey(secret.getMetadata().getNamespace(), secret.getMetadata().getName()))
            .stream()
            .map(ResourceID::fromResource)
            .collect(Collectors.toSet()))
        .build();
    secrets = new InformerEventSource<>(config, context);
    return List.of(secrets);
  }

  @Override
  public UpdateControl<RateLimitPolicy> reconcile(RateLimitPolicy policy, Context<RateLimitPolicy> context) {
    long started = System.nanoTime();
    PolicyId id = idOf(policy);
    try {
      Compilation compilation = PolicyCompiler.compile(id, policy.getSpec());
      if (settings.tenantRedisSecret() != null) {
        // the namespace's own Redis user, before its sidecars need it; idempotent, heals a restarted node
        store.tenantUsers().ensure(id.namespace(),
            TenantCredentials.ensure(context.getClient(), id.namespace(), settings.tenantRedisSecret()));
      }
      CompiledPolicy enforced;
      boolean switched = false;
      if (compilation.ok()) {
        PublishResult published = store.publish(compilation.policy());
        enforced = compilation.policy();
        switched = published.switched();
        if (switched) {
          metrics.revisionPublished();
          LOG.info("{}: revision {} is current (was {})", id, published.revision(), published.previous());
        }
      } else {
        enforced = store.currentPolicy(id).orElse(null);
      }
      String revision = enforced != null ? enforced.revision() : store.currentRevision(id).orElse(null);
      List<String> secretProblems = syncSecrets(id, enforced, !switched, context.getClient());

      long now = fleetClock.getAsLong();
      String periodId = UsagePeriod.id(UsagePeriod.of(policy.getSpec()), Instant.ofEpochMilli(now));
      FleetSnapshot fleet = store.readFleet(id, now, periodId);
      if (enforced != null) {
        announceUsage(policy, id, enforced, periodId, fleet, context.getClient());
      }

      ConditionState accepted = compilation.ok()
          ? Acceptance.accepted(revision, secretProblems)
          : Acceptance.invalid(compilation, revision);
      RateLimitPolicyStatus next = StatusBuilder.build(policy.getStatus(), new StatusBuilder.Observation(
          generationOf(policy), revision, accepted,
          Enforcement.evaluate(fleet.heartbeats(), revision, now, settings.sidecarLiveness()),
          UsageReport.of(periodId, fleet.usage())), settings.clock().instant());
      next = usageRefresh.apply(id.toString(), policy.getStatus(), next, settings.clock().instant());
      metrics.reconciled(compilation.ok() ? OperatorMetrics.ACCEPTED : OperatorMetrics.REFUSED,
          System.nanoTime() - started);
      return withStatus(policy, next, context).rescheduleAfter(settings.refreshInterval());
    } catch (RuntimeException e) {
      metrics.reconcileError();
      metrics.reconciled(OperatorMetrics.FAILED, System.nanoTime() - started);
      if (e instanceof StoreUnavailableException) {
        metrics.redisError();
      }
      throw e;
    }
  }

  /** Budget and throttling Events (rate-limited by {@link UsageEvents}); best effort, like every Event. */
  private void announceUsage(RateLimitPolicy policy, PolicyId id, CompiledPolicy enforced, String periodId,
      FleetSnapshot fleet, KubernetesClient client) {
    List<String> tiers = enforced.tiers().stream().map(dev.ratekeeper.policy.compile.CompiledTier::name).toList();
    usageEvents.observe(id.toString(), enforced, periodId, fleet.usage(), store.readTierTraffic(id, periodId, tiers),
        settings.clock().instant()).forEach(a -> events.record(client, policy, a));
  }

  /** The status while reconciling fails: conditions Unknown, the rest as last seen; retried with backoff. */
  @Override
  public ErrorStatusUpdateControl<RateLimitPolicy> updateErrorStatus(RateLimitPolicy policy,
      Context<RateLimitPolicy> context, Exception e) {
    ConditionState state;
    if (e instanceof StoreUnavailableException unavailable) {
      LOG.warn("{}: {}; retrying", idOf(policy), unavailable.detail());
      state = Acceptance.storeUnavailable(unavailable.detail());
    } else {
      LOG.error("{}: reconcile failed; retrying", idOf(policy), e);
      state = Acceptance.failed(e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()));
    }
    RateLimitPolicyStatus next = StatusBuilder.unavailable(policy.getStatus(), generationOf(policy), state,
        settings.clock().instant());
    if (Objects.equals(policy.getStatus(), next)) {
      return ErrorStatusUpdateControl.noStatusUpdate();
    }
    Announcement.between(policy.getStatus(), next).ifPresent(a -> events.record(context.getClient(), policy, a));
    policy.setStatus(next);
    return ErrorStatusUpdateControl.patchStatus(policy);
  }

  /** Removes the policy's configuration from Redis; counters expire by their TTLs. Retried while Redis is down. */
  @Override
  public DeleteControl cleanup(RateLimitPolicy policy, Context<RateLimitPolicy> context) {
    long started = System.nanoTime();
    PolicyId id = idOf(policy);
    try {
      usageRefresh.forget(id.toString());
      usageEvents.forget(id.toString());
      int removed = store.removeConfiguration(id);
      LOG.info("{}: deleted; removed {} configuration keys from Redis", id, removed);
      metrics.reconciled(OperatorMetrics.DELETED, System.nanoTime() - started);
      return DeleteControl.defaultDelete();
    } catch (StoreUnavailableException e) {
      metrics.redisError();
      metrics.reconcileError();
      if (cleanupTimedOut(policy)) {
        LOG.error("{}: Redis unreachable ({}) for longer than {} since the policy was deleted; releasing the "
            + "finalizer anyway: its configuration keys (rk:{{}}:policy:*, apikeys) stay in Redis", id, e.detail(),
            settings.cleanupTimeout(), id);
        metrics.reconciled(OperatorMetrics.DELETED, System.nanoTime() - started);
        return DeleteControl.defaultDelete();
      }
      LOG.warn("{}: cannot remove configuration yet ({}); the finalizer stays until Redis is back, at most {} after "
          + "the deletion", id, e.detail(), settings.cleanupTimeout());
      throw e;
    }
  }

  /** The policy was deleted longer than the cleanup timeout ago (deletionTimestamp is set by the API server). */
  private boolean cleanupTimedOut(RateLimitPolicy policy) {
    String deleted = policy.getMetadata().getDeletionTimestamp();
    if (deleted == null) {
      return false;
    }
    try {
      return !settings.clock().instant().isBefore(Instant.parse(deleted).plus(settings.cleanupTimeout()));
    } catch (java.time.format.DateTimeParseException e) {
      return false;
    }
  }

  /**
   * Makes the API-key hashes follow the Secret the enforced revision names (none: the hash is
   * removed), and lists what referenced Secrets lack. Nothing enforced yet: nothing to do.
   */
  private List<String> syncSecrets(PolicyId id, CompiledPolicy enforced, boolean announceChange,
      KubernetesClient client) {
    if (enforced == null) {
      return List.of();
    }
    List<String> problems = new ArrayList<>(SecretReferences.problems(SecretReferences.of(enforced),
        name -> secret(id.namespace(), name)));
    Map<String, String> userByHash = Map.of();
    String keySecret = enforced.identity().apiKeySecretName();
    // the cache knows the Secret exists; its values come from the API server, never from the cache
    Optional<Secret> secret = keySecret == null || secret(id.namespace(), keySecret).isEmpty() ? Optional.empty()
        : Optional.ofNullable(client.secrets().inNamespace(id.namespace()).withName(keySecret).get());
    if (secret.isPresent()) {
      ApiKeyHashes.Result hashes = ApiKeyHashes.of(secret.get());
      userByHash = hashes.userByHash();
      problems.addAll(hashes.problems());
    }
    if (store.replaceApiKeys(id, userByHash)) {
      LOG.info("{}: API-key hashes replaced ({} users)", id, userByHash.size());
      if (announceChange) {
        store.announce(id, enforced.revision());
      }
    }
    return problems;
  }

  private Optional<Secret> secret(String namespace, String name) {
    InformerEventSource<Secret, RateLimitPolicy> source = secrets;
    return source == null ? Optional.empty() : source.get(new ResourceID(name, namespace));
  }

  private UpdateControl<RateLimitPolicy> withStatus(RateLimitPolicy policy, RateLimitPolicyStatus next,
      Context<RateLimitPolicy> context) {
    if (Objects.equals(policy.getStatus(), next)) {
      return UpdateControl.noUpdate();
    }
    Announcement.between(policy.getStatus(), next).ifPresent(a -> events.record(context.getClient(), policy, a));
    policy.setStatus(next);
    return UpdateControl.patchStatus(policy);
  }

  static PolicyId idOf(RateLimitPolicy policy) {
    return new PolicyId(policy.getMetadata().getNamespace(), policy.getMetadata().getName());
  }

  private static long generationOf(RateLimitPolicy policy) {
    Long generation = policy.getMetadata().getGeneration();
    return generation == null ? 0 : generation;
  }

  static String indexKey(String namespace, String secretName) {
    return namespace + "/" + secretName;
  }
}
