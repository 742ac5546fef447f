package dev.ratekeeper.operator;

import dev.ratekeeper.operator.admin.OperatorMetrics;
import dev.ratekeeper.operator.reconcile.RateLimitPolicyReconciler;
import dev.ratekeeper.operator.store.RedisPolicyStore;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.javaoperatorsdk.operator.processing.retry.GenericRetry;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operator wired together: JOSDK with the RateLimitPolicy reconciler, watching the configured
 * namespaces. Status and finalizers are written with server-side apply, as JOSDK does by default;
 * {@link OperatorSettings#serverSideApply()} false writes them with JSON patches instead, for API
 * servers without server-side apply (Fabric8's mock server in tests).
 */
public final class RatekeeperOperator {
  private static final Logger LOG = LoggerFactory.getLogger(RatekeeperOperator.class);

  private final Operator operator;
  private final AtomicBoolean stopping = new AtomicBoolean();

  public RatekeeperOperator(KubernetesClient client, RedisPolicyStore store, OperatorSettings settings,
      OperatorMetrics metrics) {
    this.operator = new Operator(o -> {
      o.withKubernetesClient(client)
          .withUseSSAToPatchPrimaryResource(settings.serverSideApply())
          .withSSABasedCreateUpdateMatchForDependentResources(settings.serverSideApply())
          .withCloseClientOnStop(false)
          .withConcurrentReconciliationThreads(4);
      if (settings.leaderElection() != null) {
        OperatorSettings.LeaderElection lease = settings.leaderElection();
        o.withLeaderElectionConfiguration(new LeaderElectionConfiguration(lease.leaseName(), lease.namespace(),
            LeaderElectionConfiguration.LEASE_DURATION_DEFAULT_VALUE,
            LeaderElectionConfiguration.RENEW_DEADLINE_DEFAULT_VALUE,
            LeaderElectionConfiguration.RETRY_PERIOD_DEFAULT_VALUE,
            lease.identity(),
            new LeaderCallbacks(() -> LOG.info("leading: reconciling"), this::lostLease,
                leader -> LOG.info("leader is {}", leader)),
            false));
      }
    });
    GenericRetry retry = new GenericRetry()
        .setInitialInterval(settings.retryInitial().toMillis())
        .setIntervalMultiplier(2)
        .setMaxInterval(settings.retryMax().toMillis())
        .withoutMaxAttempts();
    operator.register(new RateLimitPolicyReconciler(store, settings, metrics), c -> {
      if (settings.namespaces().isEmpty()) {
        c.watchingAllNamespaces();
      } else {
        c.settingNamespaces(settings.namespaces());
      }
      c.withRetry(retry);
    });
  }

  public void start() {
    operator.start();
  }

  public void stop() {
    stopping.set(true);
    operator.stop();
  }

  /**
   * A leader that loses its Lease (not because it is stopping) exits at once, so two replicas never
   * reconcile side by side; Kubernetes restarts it as a follower. Exits from a thread of its own:
   * the shutdown hook then stops the operator, whose threads must not be the one blocked in exit.
   */
  private void lostLease() {
    if (stopping.get()) {
      return;
    }
    LOG.error("lost the leader-election Lease; exiting so that only the new leader reconciles");
    Thread exit = new Thread(() -> System.exit(1), "lost-lease-exit");
    exit.start();
  }

  /** Started, and every informer connected and synced. */
  public boolean healthy() {
    var info = operator.getRuntimeInfo();
    return info.isStarted() && info.allEventSourcesAreHealthy();
  }
}
