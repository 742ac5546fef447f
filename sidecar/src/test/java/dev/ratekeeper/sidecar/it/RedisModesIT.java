package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.PolicyCodec;
import dev.ratekeeper.policy.compile.PolicyCompiler;
import dev.ratekeeper.policy.compile.PolicyDocument;
import dev.ratekeeper.policy.keys.RedisKeys;
import dev.ratekeeper.policy.keys.TenantAcl;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.StubLlmUpstream;
import dev.ratekeeper.testkit.redis.RedisClusterNodes;
import dev.ratekeeper.testkit.redis.RedisNode;
import dev.ratekeeper.testkit.redis.RedisSentinels;
import dev.ratekeeper.testkit.redis.RedisTls;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Real sidecars started with the Redis flags of each mode, on real topologies: a Redis Cluster (the
 * policy read from its slot's master, policy changes heard over pub/sub from whichever node), a
 * master found through Sentinel, a TLS-only Redis with a private CA and client certificate, and a
 * per-namespace ACL user that reaches its own namespace's policy and is refused another's.
 */
class RedisModesIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: agents, namespace: %s}
      spec:
        tiers:
        - name: everyone
          requests: {perMinute: 1, burst: %d}
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;
  static final String BODY = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,\"messages\":[]}";

  SidecarFixture fixture;
  StubLlmUpstream stub;

  /**
   * Awaitility fails a wait with any uncaught exception of any thread by default; a sidecar whose start
   * was refused (wrong CA, NOPERM) leaves Vert.x's internal blocking threads that complete after their
   * Vert.x closed and throw RejectedExecutionException there. That is Vert.x's shutdown, not the
   * behaviour under test: the waits here judge only their own condition.
   */
  private static org.awaitility.core.ConditionFactory settled() {
    return await().dontCatchUncaughtExceptions();
  }

  @BeforeEach
  void start() {
    fixture = new SidecarFixture();
    stub = StubLlmUpstream.start();
  }

  @AfterEach
  void stop() {
    fixture.close();
    stub.close();
  }

  /** Writes a compiled revision and switches to it as the operator does, through {@code command}. */
  static CompiledPolicy publish(String namespace, int burst, Consumer<Object[]> command) throws Exception {
    PolicyDocument doc = PolicyDocument.parse(POLICY.formatted(namespace, burst));
    CompiledPolicy policy = PolicyCompiler.compile(doc.id(), doc.spec()).policy();
    RedisKeys keys = new RedisKeys(doc.id());
    command.accept(new Object[] {"SET", keys.revision(policy.revision()), PolicyCodec.toJson(policy)});
    command.accept(new Object[] {"SET", keys.currentRevision(), policy.revision()});
    command.accept(new Object[] {"PUBLISH", keys.changeChannel(), policy.revision()});
    return policy;
  }

  private int allowed(Sidecar sidecar, int calls) {
    int ok = 0;
    for (int i = 0; i < calls; i++) {
      ok += fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", "u1").statusCode() == 200 ? 1 : 0;
    }
    return ok;
  }

  @Test
  void clusterModeReadsThePolicyFromItsSlotAndHearsChangesFromAnyNode() throws Exception {
    try (RedisClusterNodes cluster = RedisClusterNodes.start()) {
      String key = new RedisKeys(new dev.ratekeeper.policy.compile.PolicyId("cluster-it", "agents")).currentRevision();
      RedisNode owner = cluster.masterOf(cluster.slotOf(key));
      publish("cluster-it", 3, owner::call);
      List<Sidecar> fleet = new ArrayList<>();
      for (int i = 0; i < 2; i++) {
        fleet.add(fixture.sidecar(Map.of("RATEKEEPER_REDIS_MODE", "cluster"), "--policy", "cluster-it/agents",
            "--redis", String.join(",", cluster.seedUrls()), "--upstream", "anthropic=" + stub.url(),
            "--sidecar-id", "c" + i));
      }
      assertThat(allowed(fleet.get(0), 2) + allowed(fleet.get(1), 2)).isEqualTo(3);
      // each heartbeat (one pipelined batch of four commands) lands on the policy's slot owner
      settled().atMost(Duration.ofSeconds(5)).until(() -> "sidecar".equals(String.valueOf(
          owner.call("HGET", "rk:{cluster-it/agents}:sidecar:c1:build", "mode"))));
      assertThat(owner.call("ZCARD", "rk:{cluster-it/agents}:sidecars")).isEqualTo(2L);
      // each sidecar is subscribed to the change channel on some node of the Cluster
      String channel = "rk:{cluster-it/agents}:policy:changed";
      settled().atMost(Duration.ofSeconds(5)).until(() -> cluster.live().stream()
          .mapToLong(n -> (Long) ((List<?>) n.call("PUBSUB", "NUMSUB", channel)).get(1)).sum() == 2);
      // a change published on a node that is not the slot's owner reaches both (Cluster pub/sub broadcasts)
      RedisNode other = cluster.masters().stream().filter(m -> m != owner).findFirst().orElseThrow();
      CompiledPolicy next = publish("cluster-it", 10, command -> (command[0].equals("PUBLISH") ? other : owner)
          .call(command));
      settled().atMost(Duration.ofSeconds(3)).until(() -> fleet.stream()
          .allMatch(s -> s.policy().revision().equals(next.revision())));
      assertThat(allowed(fleet.get(0), 10)).isEqualTo(7);
    }
  }

  @Test
  void sentinelModeFindsTheMasterByNameWithThePasswordOfTheDataNodes() throws Exception {
    // the master and replica require a password, the sentinels none: the usual set-up
    try (RedisSentinels set = RedisSentinels.start("s3cret-data")) {
      publish("sentinel-it", 2, set.initialMaster()::call);
      Sidecar sidecar = fixture.sidecar(Map.of("RATEKEEPER_REDIS_PASSWORD", "s3cret-data"), "--policy",
          "sentinel-it/agents", "--redis-mode", "sentinel",
          "--redis-master-name", RedisSentinels.MASTER_NAME, "--redis", String.join(",", set.sentinelUrls()),
          "--upstream", "anthropic=" + stub.url());
      assertThat(allowed(sidecar, 3)).isEqualTo(2);
      assertThat(set.initialMaster().call("EXISTS", "rk:{sentinel-it/agents}:u:u1:req")).isEqualTo(1L);
    }
  }

  @Test
  void tlsWithAPrivateCaAndAClientCertificateFromFlags() throws Exception {
    RedisTls tls = RedisTls.create();
    try (RedisNode redis = RedisNode.startTls(tls, true)) {
      publish("tls-it", 2, redis::call);
      Sidecar sidecar = fixture.sidecar(Map.of("RATEKEEPER_REDIS_CERT_FILE", tls.clientCertificate().toString(),
              "RATEKEEPER_REDIS_KEY_FILE", tls.clientKey().toString()), "--policy", "tls-it/agents",
          "--redis", "rediss://localhost:" + redis.port(), "--redis-ca-file", tls.caCertificate().toString(),
          "--upstream", "anthropic=" + stub.url());
      assertThat(allowed(sidecar, 3)).isEqualTo(2);
      // a name the certificate does not carry: refused at start unless host names are not checked
      assertThatThrownBy(() -> fixture.sidecar(Map.of(), "--policy", "tls-it/agents",
          "--redis", "rediss://127.0.0.1:" + redis.port(), "--redis-ca-file", tls.caCertificate().toString(),
          "--redis-cert-file", tls.clientCertificate().toString(), "--redis-key-file", tls.clientKey().toString(),
          "--upstream", "anthropic=" + stub.url())).isInstanceOf(RuntimeException.class);
      Sidecar unchecked = fixture.sidecar(Map.of(), "--policy", "tls-it/agents",
          "--redis", "rediss://127.0.0.1:" + redis.port(), "--redis-ca-file", tls.caCertificate().toString(),
          "--redis-cert-file", tls.clientCertificate().toString(), "--redis-key-file", tls.clientKey().toString(),
          "--redis-verify-hostname", "false", "--upstream", "anthropic=" + stub.url());
      assertThat(allowed(unchecked, 1)).isZero(); // the burst of 2 is spent, shared through the same Redis
    }
  }

  @Test
  void aSidecarWithTenantACredentialsIsRefusedOnTenantBKeys() throws Exception {
    try (RedisNode redis = RedisNode.start()) {
      for (String ns : List.of("tenant-a", "tenant-b")) {
        List<Object> setUser = new ArrayList<>(List.of("ACL", "SETUSER", TenantAcl.userName(ns), "reset", "resetpass",
            ">pw-" + ns));
        setUser.addAll(TenantAcl.rules(ns));
        redis.call(setUser.toArray());
        publish(ns, 2, redis::call);
      }
      Map<String, String> tenantA = Map.of("RATEKEEPER_REDIS_USER", TenantAcl.userName("tenant-a"),
          "RATEKEEPER_REDIS_PASSWORD", "pw-tenant-a");
      Sidecar own = fixture.sidecar(tenantA, "--policy", "tenant-a/agents", "--redis", redis.url(),
          "--upstream", "anthropic=" + stub.url());
      assertThat(allowed(own, 3)).isEqualTo(2);
      // its heartbeat (a write of its own namespace's keys) goes through
      settled().atMost(Duration.ofSeconds(5)).until(() -> (Long) redis.call("ZCARD", "rk:{tenant-a/agents}:sidecars") == 1);
      settled().atMost(Duration.ofSeconds(5)).until(() ->
          ((List<?>) redis.call("KEYS", "rk:{tenant-a/agents}:sidecar:*:build")).size() == 1);
      // tenant B's policy cannot even be read with tenant A's login: the sidecar does not start
      assertThatThrownBy(() -> fixture.sidecar(tenantA, "--policy", "tenant-b/agents", "--redis", redis.url(),
          "--upstream", "anthropic=" + stub.url())).hasStackTraceContaining("NOPERM");
      assertThat(redis.call("EXISTS", "rk:{tenant-b/agents}:u:u1:req")).isEqualTo(0L);
    }
  }
}
