package dev.ratekeeper.operator;

import java.time.Clock;
import java.time.Duration;
import java.util.Set;
import java.util.function.LongSupplier;

/**
 * How the operator runs, apart from where Redis and the API server are.
 *
 * @param namespaces namespaces to watch; empty = all
 * @param refreshInterval how often each policy's status is refreshed from heartbeats and usage
 * @param sidecarLiveness how old a sidecar's last heartbeat may be for it to count as live
 * @param retryInitial first backoff after a failed reconcile (Redis down); doubles up to {@code retryMax}
 * @param retryMax longest backoff between retries; retries never stop
 * @param leaderElection the Lease to elect a leader with, or null to run without leader election
 * @param clock wall clock for condition transition times
 * @param fleetClock now in ms for heartbeat liveness and usage periods; null = Redis server time
 *     (the clock sidecars stamp with). Tests pin it.
 * @param cleanupTimeout how long after a policy's deletion the finalizer waits for Redis to remove
 *     the policy's configuration; past it the finalizer is released anyway (the keys stay in Redis),
 *     so an unreachable Redis cannot hold a namespace deletion forever
 * @param serverSideApply write the policy's status and finalizer with server-side apply (JOSDK's
 *     default, and what a real API server supports); false only for API servers without it, such as
 *     Fabric8's mock server in CRUD mode, where they are written with JSON patches instead
 * @param secretSelector a Kubernetes label selector (such as {@code ratekeeper.dev/secret=true}) the
 *     Secret watch is restricted to; null = every Secret of the watched namespaces. A Secret a policy
 *     references but the selector leaves out counts as missing.
 * @param tenantRedisSecret per-namespace Redis users (docs/redis-keys.md, "Per-tenant users"): the
 *     name of the Secret the operator keeps in each namespace with a policy, holding that namespace's
 *     Redis user ({@code user}) and password ({@code password}), and writes to Redis as an ACL user
 *     that reaches only that namespace's keys; null = off (every sidecar shares one Redis login)
 */
public record OperatorSettings(
    Set<String> namespaces,
    Duration refreshInterval,
    Duration sidecarLiveness,
    Duration retryInitial,
    Duration retryMax,
    LeaderElection leaderElection,
    Clock clock,
    LongSupplier fleetClock,
    Duration cleanupTimeout,
    boolean serverSideApply,
    String secretSelector,
    String tenantRedisSecret) {

  public static final Duration DEFAULT_REFRESH = Duration.ofSeconds(10);
  public static final Duration DEFAULT_LIVENESS = Duration.ofSeconds(15);
  public static final Duration DEFAULT_CLEANUP_TIMEOUT = Duration.ofMinutes(2);

  /** The Lease leader election runs on; {@code namespace} null = the client's namespace. */
  public record LeaderElection(String leaseName, String namespace, String identity) {}

  public OperatorSettings {
    namespaces = Set.copyOf(namespaces);
  }

  public static OperatorSettings defaults() {
    return new OperatorSettings(Set.of(), DEFAULT_REFRESH, DEFAULT_LIVENESS, Duration.ofSeconds(1),
        Duration.ofSeconds(60), null, Clock.systemUTC(), null, DEFAULT_CLEANUP_TIMEOUT, true, null, null);
  }

  public OperatorSettings withNamespaces(Set<String> value) {
    return new OperatorSettings(value, refreshInterval, sidecarLiveness, retryInitial, retryMax, leaderElection,
        clock, fleetClock, cleanupTimeout, serverSideApply, secretSelector, tenantRedisSecret);
  }

  public OperatorSettings withRefreshInterval(Duration value) {
    return new OperatorSettings(namespaces, value, sidecarLiveness, retryInitial, retryMax, leaderElection,
        clock, fleetClock, cleanupTimeout, serverSideApply, secretSelector, tenantRedisSecret);
  }

  public OperatorSettings withSidecarLiveness(Duration value) {
    return new OperatorSettings(namespaces, refreshInterval, value, retryInitial, retryMax, leaderElection,
        clock, fleetClock, cleanupTimeout, serverSideApply, secretSelector, tenantRedisSecret);
  }

  public OperatorSettings withRetry(Duration initial, Duration max) {
    return new OperatorSettings(namespaces, refreshInterval, sidecarLiveness, initial, max, leaderElection,
        clock, fleetClock, cleanupTimeout, serverSideApply, secretSelector, tenantRedisSecret);
  }

  public OperatorSettings withLeaderElection(LeaderElection value) {
    return new OperatorSettings(namespaces, refreshInterval, sidecarLiveness, retryInitial, retryMax, value,
        clock, fleetClock, cleanupTimeout, serverSideApply, secretSelector, tenantRedisSecret);
  }

  public OperatorSettings withClock(Clock value) {
    return new OperatorSettings(namespaces, refreshInterval, sidecarLiveness, retryInitial, retryMax, leaderElection,
        value, fleetClock, cleanupTimeout, serverSideApply, secretSelector, tenantRedisSecret);
  }

  public OperatorSettings withFleetClock(LongSupplier value) {
    return new OperatorSettings(namespaces, refreshInterval, sidecarLiveness, retryInitial, retryMax, leaderElection,
        clock, value, cleanupTimeout, serverSideApply, secretSelector, tenantRedisSecret);
  }

  public OperatorSettings withServerSideApply(boolean value) {
    return new OperatorSettings(namespaces, refreshInterval, sidecarLiveness, retryInitial, retryMax, leaderElection,
        clock, fleetClock, cleanupTimeout, value, secretSelector, tenantRedisSecret);
  }

  public OperatorSettings withCleanupTimeout(Duration value) {
    return new OperatorSettings(namespaces, refreshInterval, sidecarLiveness, retryInitial, retryMax, leaderElection,
        clock, fleetClock, value, serverSideApply, secretSelector, tenantRedisSecret);
  }

  public OperatorSettings withSecretSelector(String value) {
    return new OperatorSettings(namespaces, refreshInterval, sidecarLiveness, retryInitial, retryMax, leaderElection,
        clock, fleetClock, cleanupTimeout, serverSideApply, value, tenantRedisSecret);
  }

  public OperatorSettings withTenantRedisSecret(String value) {
    return new OperatorSettings(namespaces, refreshInterval, sidecarLiveness, retryInitial, retryMax, leaderElection,
        clock, fleetClock, cleanupTimeout, serverSideApply, secretSelector, value);
  }
}
