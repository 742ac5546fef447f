package dev.ratekeeper.operator.reconcile;

import static dev.ratekeeper.operator.testing.OperatorHarness.eventually;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ratekeeper.operator.secrets.TenantCredentials;
import dev.ratekeeper.operator.testing.OperatorHarness;
import dev.ratekeeper.policy.keys.TenantAcl;
import io.fabric8.kubernetes.api.model.Secret;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;

/**
 * Per-tenant Redis users from the reconciler: each namespace with a policy gets a Secret with its own
 * Redis user and password, and that user (on a real redis-server) reaches its namespace's policies only.
 */
class TenantUsersReconcileIT {
  private static final String SECRET = "ratekeeper-redis";
  private static final String SPEC = "tiers:\n- name: free\n  requests: {perMinute: 10}\n";
  private static OperatorHarness harness;

  @BeforeAll
  static void start() {
    harness = new OperatorHarness(api -> { }, s -> s.withTenantRedisSecret(SECRET));
  }

  @AfterAll
  static void stop() {
    harness.close();
  }

  private static String value(Secret secret, String key) {
    return new String(Base64.getDecoder().decode(secret.getData().get(key)), StandardCharsets.UTF_8);
  }

  private static Secret awaitSecret(String namespace) {
    return eventually().until(() -> harness.client().secrets().inNamespace(namespace).withName(SECRET).get(),
        s -> s != null);
  }

  private static Jedis as(String user, String password) {
    return new Jedis(new HostAndPort("127.0.0.1", harness.redis.port()),
        DefaultJedisClientConfig.builder().user(user).password(password).build());
  }

  @Test
  void eachNamespaceGetsItsOwnRedisUserThatCannotTouchAnotherNamespacesKeys() {
    harness.create("tenant-a", "agents", SPEC);
    harness.create("tenant-b", "agents", SPEC);
    Secret a = awaitSecret("tenant-a");
    Secret b = awaitSecret("tenant-b");
    assertThat(value(a, TenantCredentials.USER_KEY)).isEqualTo(TenantAcl.userName("tenant-a"));
    assertThat(value(a, TenantCredentials.PASSWORD_KEY)).isNotEqualTo(value(b, TenantCredentials.PASSWORD_KEY))
        .hasSizeGreaterThanOrEqualTo(40);
    String current = "rk:{tenant-a/agents}:policy:current";
    eventually().untilAsserted(() -> {
      try (Jedis jedis = as(value(a, TenantCredentials.USER_KEY), value(a, TenantCredentials.PASSWORD_KEY))) {
        assertThat(jedis.get(current)).isNotNull();
        assertThatThrownBy(() -> jedis.get("rk:{tenant-b/agents}:policy:current")).hasMessageContaining("NOPERM");
        assertThatThrownBy(() -> jedis.set("rk:{tenant-b/agents}:g:req", "0:0")).hasMessageContaining("NOPERM");
      }
    });
    // B's password does not log in as A
    assertThatThrownBy(() -> as(TenantAcl.userName("tenant-a"), value(b, TenantCredentials.PASSWORD_KEY)).ping())
        .hasMessageContaining("WRONGPASS");
    // the password is stable across reconciles: the Secret is not rewritten
    String version = a.getMetadata().getResourceVersion();
    harness.updateSpec("tenant-a", "agents", SPEC.replace("10", "20"));
    eventually().untilAsserted(() -> assertThat(harness.get("tenant-a", "agents").getStatus().observedGeneration)
        .isEqualTo(2L));
    assertThat(harness.client().secrets().inNamespace("tenant-a").withName(SECRET).get().getMetadata()
        .getResourceVersion()).isEqualTo(version);
  }

  @Test
  void aRedisThatLostItsUsersGetsThemBackOnTheNextRefresh() {
    harness.create("tenant-c", "agents", SPEC);
    Secret c = awaitSecret("tenant-c");
    try (Jedis admin = harness.jedis()) {
      eventually().until(() -> admin.aclList().stream().anyMatch(u -> u.contains(TenantAcl.userName("tenant-c"))));
      admin.aclDelUser(TenantAcl.userName("tenant-c"));
    }
    eventually().untilAsserted(() -> {
      try (Jedis jedis = as(TenantAcl.userName("tenant-c"), value(c, TenantCredentials.PASSWORD_KEY))) {
        assertThat(jedis.ping()).isEqualTo("PONG");
      }
    });
  }

}
