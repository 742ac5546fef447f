package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.limiter.TestPolicy.perMinute;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.policy;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.tier;
import static dev.ratekeeper.sidecar.store.EmbeddedRedis.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.keys.TenantAcl;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.testkit.redis.RedisNode;
import dev.ratekeeper.testkit.redis.RedisTls;
import io.vertx.core.Vertx;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The limiter's link to a TLS-only Redis with a private CA, and as a Redis 6 ACL user. */
class RedisSecurityIT {
  private Vertx vertx;

  @BeforeEach
  void vertx() {
    vertx = Vertx.vertx();
  }

  @AfterEach
  void close() {
    await(vertx.close());
  }

  @Test
  void tlsWithAPrivateCaAClientCertificateAndTheHostNameChecked() {
    RedisTls tls = RedisTls.create();
    try (RedisNode redis = RedisNode.startTls(tls, true)) {
      int port = redis.port();
      RedisClientSettings good = RedisClientSettings.standalone("rediss://localhost:" + port, null)
          .withTls(tls.caCertificate(), tls.clientCertificate(), tls.clientKey(), true);
      RedisLink link = await(RedisLink.open(vertx, good.toOptions(), 2, System::nanoTime,
          RedisLimiterStore::loadScripts));
      try {
        RedisLimiterStore store = RedisLimiterStore.create(link::send, LimiterOptions.DEFAULTS, RedisTime.server());
        CompiledPolicy p = policy().tier(tier("free").requests(perMinute(1, 1))).build();
        assertThat(await(store.admit(requestsOnly(p))).allowed()).isTrue();
        assertThat(await(store.admit(requestsOnly(p))).allowed()).isFalse();
      } finally {
        await(link.close());
      }
      // the certificate names localhost only
      assertThatThrownBy(() -> await(RedisLink.open(vertx, RedisClientSettings.standalone("rediss://127.0.0.1:" + port, null)
          .withTls(tls.caCertificate(), tls.clientCertificate(), tls.clientKey(), true).toOptions(), 1,
              System::nanoTime, c -> null)))
          .as("host name not in the certificate").isInstanceOf(RuntimeException.class);
      RedisLink unchecked = await(RedisLink.open(vertx, RedisClientSettings.standalone("rediss://127.0.0.1:" + port, null)
          .withTls(tls.caCertificate(), tls.clientCertificate(), tls.clientKey(), false).toOptions(), 1,
          System::nanoTime, RedisLimiterStore::loadScripts));
      unchecked.close();
      // a CA that did not sign the server's certificate
      RedisTls other = RedisTls.create();
      assertThatThrownBy(() -> await(RedisLink.open(vertx, good.withTls(other.caCertificate(), tls.clientCertificate(),
          tls.clientKey(), true).toOptions(), 1, System::nanoTime,
              RedisLimiterStore::loadScripts))).isInstanceOf(RuntimeException.class);
      // the server asks for a client certificate
      assertThatThrownBy(() -> await(RedisLink.open(vertx, good.withTls(tls.caCertificate(), null, null, true)
          .toOptions(), 1, System::nanoTime, RedisLimiterStore::loadScripts))).isInstanceOf(RuntimeException.class);
    }
  }

  @Test
  void anAclUserReachesOnlyThePoliciesItsKeyPatternsCover() {
    try (RedisNode redis = RedisNode.start()) {
      List<Object> setUser = new ArrayList<>(List.of("ACL", "SETUSER", TenantAcl.userName("team-a"), "resetpass",
          ">pw-a"));
      setUser.addAll(TenantAcl.rules("team-a"));
      redis.call(setUser.toArray());
      RedisClientSettings asTenantA = RedisClientSettings.standalone(redis.url(), null).withLogin(TenantAcl.userName("team-a"),
          "pw-a");
      RedisLink link = await(RedisLink.open(vertx, asTenantA.toOptions(), 1, System::nanoTime,
          RedisLimiterStore::loadScripts));
      try {
        RedisLimiterStore store = RedisLimiterStore.create(link::send, LimiterOptions.DEFAULTS, RedisTime.server());
        CompiledPolicy own = policy().tier(tier("free").requests(perMinute(10, 10))).build(); // team-a/agents
        assertThat(await(store.admit(requestsOnly(own))).allowed()).isTrue();
        CompiledPolicy other = policy().id("team-b", "agents").tier(tier("free").requests(perMinute(10, 10))).build();
        assertThatThrownBy(() -> await(store.admit(requestsOnly(other)))).hasMessageContaining("NOPERM");
        assertThat(redis.call("EXISTS", "rk:{team-b/agents}:u:alice:req")).isEqualTo(0L);
        assertThatThrownBy(() -> await(link.send(io.vertx.redis.client.Request.cmd(io.vertx.redis.client.Command.GET)
            .arg("rk:{team-b/agents}:policy:current")))).hasMessageContaining("NOPERM");
        assertThatThrownBy(() -> await(link.send(io.vertx.redis.client.Request.cmd(io.vertx.redis.client.Command.GET)
            .arg("rk:{team-ab/agents}:policy:current")))).as("a namespace that starts with team-a")
            .hasMessageContaining("NOPERM");
        assertThatThrownBy(() -> await(link.send(io.vertx.redis.client.Request.cmd(io.vertx.redis.client.Command.PUBLISH)
            .arg("rk:{team-b/agents}:policy:changed").arg("x")))).hasMessageContaining("NOPERM");
        assertThatThrownBy(() -> await(link.send(io.vertx.redis.client.Request.cmd(io.vertx.redis.client.Command.FLUSHALL))))
            .hasMessageContaining("NOPERM");
        assertThat(await(link.send(io.vertx.redis.client.Request.cmd(io.vertx.redis.client.Command.PUBLISH)
            .arg("rk:{team-a/agents}:policy:changed").arg("x"))).toLong()).isZero();
      } finally {
        await(link.close());
      }
      assertThatThrownBy(() -> await(RedisLink.open(vertx, RedisClientSettings.standalone(redis.url(), null)
          .withLogin(TenantAcl.userName("team-a"), "wrong").toOptions(), 1, System::nanoTime,
              c -> null))).isInstanceOf(RuntimeException.class);
    }
  }

  private static AdmitRequest requestsOnly(CompiledPolicy p) {
    return AdmitRequest.requestsOnly(p, UUID.randomUUID().toString(), "alice", p.tier("free").orElseThrow());
  }
}
