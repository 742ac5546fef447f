package dev.ratekeeper.operator.testing;

import static org.awaitility.Awaitility.await;

import dev.ratekeeper.operator.OperatorSettings;
import dev.ratekeeper.operator.RatekeeperOperator;
import dev.ratekeeper.operator.admin.OperatorMetrics;
import dev.ratekeeper.operator.api.RateLimitPolicy;
import dev.ratekeeper.operator.store.RedisPolicyStore;
import dev.ratekeeper.operator.store.RedisSettings;
import dev.ratekeeper.policy.api.Condition;
import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.UnaryOperator;
import org.awaitility.core.ConditionFactory;
import redis.clients.jedis.Jedis;

/**
 * The whole operator against Fabric8's mock API server (CRUD mode, CRD installed) and a real
 * redis-server, with a pinned fleet clock (heartbeat liveness and usage periods read it instead of
 * Redis TIME) and a short refresh interval and backoff so tests wait little and never sleep.
 */
public final class OperatorHarness implements AutoCloseable {
  /** The fleet clock starts here: usage period 2026-11. */
  public static final Instant START = Instant.parse("2026-11-23T10:00:00Z");

  public final EmbeddedRedis redis = new EmbeddedRedis();
  public final MockApiServer api = new MockApiServer();
  public final AtomicLong fleetNow = new AtomicLong(START.toEpochMilli());
  public final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  public final RedisPolicyStore store;
  public final RatekeeperOperator operator;

  public OperatorHarness() {
    this(api -> { }, UnaryOperator.identity());
  }

  /**
   * With the API server prepared by {@code prepare} before the operator starts, and the test
   * settings adjusted by {@code adjust} (namespaces, leader election, ...).
   */
  public OperatorHarness(java.util.function.Consumer<MockApiServer> prepare, UnaryOperator<OperatorSettings> adjust) {
    prepare.accept(api);
    store = new RedisPolicyStore(RedisSettings.parse(redis.url(), null).withTimeout(Duration.ofMillis(500)),
        Duration.ofDays(7));
    OperatorSettings settings = adjust.apply(OperatorSettings.defaults()
        .withRefreshInterval(Duration.ofMillis(300))
        .withRetry(Duration.ofMillis(200), Duration.ofSeconds(1))
        .withFleetClock(fleetNow::get)
        .withServerSideApply(false)); // the mock server has no server-side apply
    operator = new RatekeeperOperator(api.client(), store, settings, new OperatorMetrics(registry));
    operator.start();
  }

  public KubernetesClient client() {
    return api.client();
  }

  public Jedis jedis() {
    return redis.client();
  }

  public static ConditionFactory eventually() {
    return await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50)).ignoreExceptions();
  }

  public static RateLimitPolicySpec spec(String yaml) {
    return Serialization.unmarshal(yaml, RateLimitPolicySpec.class);
  }

  public RateLimitPolicy create(String namespace, String name, String specYaml) {
    RateLimitPolicy policy = new RateLimitPolicy();
    policy.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(namespace).build());
    policy.setSpec(spec(specYaml));
    return client().resource(policy).create();
  }

  public RateLimitPolicy updateSpec(String namespace, String name, String specYaml) {
    return client().resources(RateLimitPolicy.class).inNamespace(namespace).withName(name).edit(p -> {
      p.setSpec(spec(specYaml));
      return p;
    });
  }

  public RateLimitPolicy get(String namespace, String name) {
    return client().resources(RateLimitPolicy.class).inNamespace(namespace).withName(name).get();
  }

  public static Optional<Condition> condition(RateLimitPolicy policy, String type) {
    if (policy == null || policy.getStatus() == null || policy.getStatus().conditions == null) {
      return Optional.empty();
    }
    return policy.getStatus().conditions.stream().filter(c -> type.equals(c.type)).findFirst();
  }

  /** The summed count of a Micrometer counter (all tags), 0 when absent. */
  public double count(String meterName) {
    return registry.find(meterName).counters().stream().mapToDouble(c -> c.count()).sum();
  }

  @Override
  public void close() {
    operator.stop();
    store.close();
    api.close();
    redis.close();
  }
}
