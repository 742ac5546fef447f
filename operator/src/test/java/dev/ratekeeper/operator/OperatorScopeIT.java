package dev.ratekeeper.operator;

import static dev.ratekeeper.operator.testing.OperatorHarness.condition;
import static dev.ratekeeper.operator.testing.OperatorHarness.eventually;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.operator.testing.OperatorHarness;
import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.policy.keys.RedisKeys;
import java.util.Set;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/** Which policies the operator takes on: the configured namespaces only, and only as the elected leader. */
class OperatorScopeIT {
  private static final String SPEC = "tiers:\n- name: free\n  requests: {perMinute: 10}\n";

  @Test
  void watchesOnlyTheConfiguredNamespaces() {
    try (OperatorHarness harness = new OperatorHarness(api -> { }, s -> s.withNamespaces(Set.of("team-a")))) {
      harness.create("team-b", "agents", SPEC);
      harness.create("team-a", "agents", SPEC);

      eventually().untilAsserted(() -> assertThat(condition(harness.get("team-a", "agents"), "Accepted"))
          .hasValueSatisfying(c -> assertThat(c.status).isEqualTo("True")));
      // team-a was created after team-b and is done: team-b would have been reconciled by now
      double reconciles = harness.count("ratekeeper.operator.reconciles");
      eventually().until(() -> harness.count("ratekeeper.operator.reconciles") >= reconciles + 3);
      assertThat(harness.get("team-b", "agents").getStatus()).isNull();
      assertThat(harness.get("team-b", "agents").getMetadata().getFinalizers()).isEmpty();
      try (Jedis jedis = harness.jedis()) {
        assertThat(jedis.exists(new RedisKeys(new PolicyId("team-b", "agents")).currentRevision())).isFalse();
      }
    }
  }

  @Test
  void withLeaderElectionTheLeaseHolderReconciles() {
    try (OperatorHarness harness = new OperatorHarness(
        api -> api.allowLeases(),
        s -> s.withLeaderElection(
            new OperatorSettings.LeaderElection("ratekeeper-operator", "ratekeeper-system", "operator-0")))) {
      harness.create("team-a", "agents", SPEC);

      eventually().untilAsserted(() -> assertThat(condition(harness.get("team-a", "agents"), "Accepted"))
          .hasValueSatisfying(c -> assertThat(c.status).isEqualTo("True")));
      var lease = harness.client().leases().inNamespace("ratekeeper-system").withName("ratekeeper-operator").get();
      assertThat(lease.getSpec().getHolderIdentity()).isEqualTo("operator-0");
    }
  }
}
