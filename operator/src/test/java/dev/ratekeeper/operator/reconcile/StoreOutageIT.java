package dev.ratekeeper.operator.reconcile;

import static dev.ratekeeper.operator.testing.OperatorHarness.condition;
import static dev.ratekeeper.operator.testing.OperatorHarness.eventually;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.operator.api.RateLimitPolicy;
import dev.ratekeeper.operator.testing.OperatorHarness;
import dev.ratekeeper.policy.api.Condition;
import dev.ratekeeper.policy.compile.PolicyCompiler;
import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.policy.keys.RedisKeys;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/**
 * Redis goes away and comes back on the same port (empty, as a Redis without persistence would):
 * the operator keeps running, retries with backoff, says so in status, and restores the policy.
 */
class StoreOutageIT {
  private static final String SPEC = """
      tiers:
      - name: free
        requests: {perMinute: 10}
      """;

  private OperatorHarness harness;

  @BeforeEach
  void start() {
    harness = new OperatorHarness();
  }

  @AfterEach
  void stop() {
    harness.close();
  }

  private String accept(String ns) {
    String revision = PolicyCompiler.compile(new PolicyId(ns, "agents"), OperatorHarness.spec(SPEC)).policy().revision();
    harness.create(ns, "agents", SPEC);
    eventually().untilAsserted(() -> {
      RateLimitPolicy policy = harness.get(ns, "agents");
      assertThat(condition(policy, "Accepted").orElseThrow().status).isEqualTo("True");
      assertThat(policy.getStatus().revision).isEqualTo(revision);
    });
    return revision;
  }

  @Test
  void anOutageIsRetriedWithBackoffShownInStatusAndRepairedWhenRedisIsBack() {
    String ns = "outage";
    String revision = accept(ns);

    harness.redis.stop();

    eventually().untilAsserted(() -> {
      RateLimitPolicy policy = harness.get(ns, "agents");
      Condition accepted = condition(policy, "Accepted").orElseThrow();
      assertThat(accepted.status).isEqualTo("Unknown");
      assertThat(accepted.reason).isEqualTo("StoreUnavailable");
      assertThat(accepted.message).contains("Redis at " + harness.redis.url()).contains("retrying with backoff");
      assertThat(condition(policy, "Enforced").orElseThrow().status).isEqualTo("Unknown");
      assertThat(policy.getStatus().revision).as("last known revision kept").isEqualTo(revision);
    });
    double failures = harness.count("ratekeeper.operator.reconcile.errors");
    eventually().until(() -> harness.count("ratekeeper.operator.reconcile.errors") >= failures + 2);
    assertThat(harness.count("ratekeeper.operator.redis.errors")).isGreaterThanOrEqualTo(3);
    assertThat(harness.operator.healthy()).as("the operator itself stays up").isTrue();
    eventually().untilAsserted(() -> assertThat(harness.client().v1().events().inNamespace(ns).list().getItems())
        .anySatisfy(e -> {
          assertThat(e.getType()).isEqualTo("Warning");
          assertThat(e.getReason()).isEqualTo("StoreUnavailable");
        }));

    harness.redis.start();

    eventually().untilAsserted(() -> {
      RateLimitPolicy policy = harness.get(ns, "agents");
      assertThat(condition(policy, "Accepted").orElseThrow().reason).isEqualTo("Compiled");
      try (Jedis jedis = harness.jedis()) {
        assertThat(jedis.get(new RedisKeys(new PolicyId(ns, "agents")).currentRevision()))
            .as("the empty Redis gets the policy again").isEqualTo(revision);
      }
    });
  }

  @Test
  void aPolicyDeletedDuringAnOutageKeepsItsFinalizerUntilRedisIsClean() {
    String ns = "outage-delete";
    accept(ns);
    RedisKeys keys = new RedisKeys(new PolicyId(ns, "agents"));
    harness.redis.stop();

    harness.client().resources(RateLimitPolicy.class).inNamespace(ns).withName("agents").delete();
    double failures = harness.count("ratekeeper.operator.reconcile.errors");
    eventually().until(() -> harness.count("ratekeeper.operator.reconcile.errors") >= failures + 2);
    RateLimitPolicy pending = harness.get(ns, "agents");
    assertThat(pending).isNotNull();
    assertThat(pending.getMetadata().getDeletionTimestamp()).isNotNull();
    assertThat(pending.getMetadata().getFinalizers()).containsExactly(RateLimitPolicyReconciler.FINALIZER);

    harness.redis.start();
    try (Jedis jedis = harness.jedis()) {
      jedis.set(keys.currentRevision(), "left-over"); // as if Redis had kept its data
    }

    eventually().untilAsserted(() -> assertThat(harness.get(ns, "agents")).isNull());
    try (Jedis jedis = harness.jedis()) {
      assertThat(jedis.exists(keys.currentRevision())).isFalse();
    }
  }

  /** A namespace deletion is never held forever by an unreachable Redis: past the cleanup timeout the finalizer goes. */
  @Test
  void aPolicyDeletedDuringALongOutageIsReleasedAfterTheCleanupTimeout() {
    harness.close();
    harness = new OperatorHarness(api -> { }, settings -> settings.withCleanupTimeout(Duration.ofSeconds(2)));
    String ns = "outage-timeout";
    accept(ns);
    harness.redis.stop();

    harness.client().resources(RateLimitPolicy.class).inNamespace(ns).withName("agents").delete();
    double failures = harness.count("ratekeeper.operator.reconcile.errors");
    eventually().until(() -> harness.count("ratekeeper.operator.reconcile.errors") >= failures + 1);
    assertThat(harness.get(ns, "agents")).as("held while within the timeout").isNotNull();

    eventually().untilAsserted(() -> assertThat(harness.get(ns, "agents")).isNull());
  }
}
