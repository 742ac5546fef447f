package dev.ratekeeper.sidecar.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ratekeeper.cli.ConfigException;
import dev.ratekeeper.cli.SidecarEnvironment;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SidecarConfigTest {
  @Test
  void defaultsFromDesign() throws Exception {
    SidecarConfig c = SidecarConfig.parse(new String[] {"--policy-file", "examples/policy.yaml"}, Map.of());
    assertThat(c.listen().toString()).isEqualTo("127.0.0.1:8787");
    assertThat(c.adminListen().toString()).isEqualTo("127.0.0.1:9787");
    assertThat(c.maxBodyBytes()).isEqualTo(SidecarConfig.defaultMaxBody(Runtime.getRuntime().maxMemory()));
    assertThat(c.maxInflightBodyBytes()).isGreaterThanOrEqualTo(c.maxBodyBytes());
    assertThat(c.idleTimeoutMs()).isEqualTo(630_000);
    assertThat(c.bodyTimeoutMs()).isEqualTo(60_000);
    assertThat(c.headerTimeoutMs()).isEqualTo(10_000);
    assertThat(c.inProcessStore()).isTrue();
  }

  @Test
  void gatewayModeListensOnEveryInterfaceAndKeepsEveryOtherDefault() throws Exception {
    SidecarConfig sidecar = SidecarConfig.parse(new String[] {"--policy-file", "p.yaml"}, Map.of());
    SidecarConfig gateway = SidecarConfig.parse(new String[] {"--policy-file", "p.yaml"}, Map.of("RATEKEEPER_MODE",
        "gateway"));
    assertThat(sidecar.mode()).isEqualTo(SidecarConfig.Mode.SIDECAR);
    assertThat(gateway.gateway()).isTrue();
    assertThat(gateway.listen().toString()).isEqualTo("0.0.0.0:8787");
    assertThat(gateway.adminListen().toString()).isEqualTo("0.0.0.0:9787");
    assertThat(gateway.sidecarId()).startsWith("gateway-");
    // the bounds are the sidecar's, flag for flag
    assertThat(gateway.maxBodyBytes()).isEqualTo(sidecar.maxBodyBytes());
    assertThat(gateway.maxInflightBodyBytes()).isEqualTo(sidecar.maxInflightBodyBytes());
    assertThat(List.of(gateway.headerTimeoutMs(), gateway.bodyTimeoutMs(), gateway.idleTimeoutMs(),
        gateway.upstreamTimeoutMs(), gateway.connectTimeoutMs())).isEqualTo(List.of(sidecar.headerTimeoutMs(),
        sidecar.bodyTimeoutMs(), sidecar.idleTimeoutMs(), sidecar.upstreamTimeoutMs(), sidecar.connectTimeoutMs()));
    assertThat(SidecarConfig.parse(new String[] {"--mode", "gateway", "--policy-file", "p.yaml", "--listen",
        "10.0.0.5:8080"}, Map.of()).listen().toString()).isEqualTo("10.0.0.5:8080");
    assertThatThrownBy(() -> SidecarConfig.parse(new String[] {"--mode", "proxy", "--policy-file", "p.yaml"}, Map.of()))
        .hasMessageContaining("--mode: expected one of [SIDECAR, GATEWAY], got \"proxy\"");
  }

  @Test
  void defaultMaxBodyIsSizedToTheHeap() {
    // a parsed body costs several times its size: one body may take an eighth of the heap, 1 MiB to 32 MiB
    assertThat(SidecarConfig.defaultMaxBody(64L << 20)).isEqualTo(8L << 20);
    assertThat(SidecarConfig.defaultMaxBody(4L << 20)).isEqualTo(1L << 20);
    assertThat(SidecarConfig.defaultMaxBody(4L << 30)).isEqualTo(32L << 20);
  }

  @Test
  void inflightBodyCapAndTimeoutsAreFlags() throws Exception {
    SidecarConfig c = SidecarConfig.parse(new String[] {"--policy-file", "p.yaml", "--max-body", "1MiB",
        "--max-inflight-body", "4MiB", "--idle-timeout", "2s", "--body-timeout", "5s", "--header-timeout", "3s"}, Map.of());
    assertThat(c.maxInflightBodyBytes()).isEqualTo(4L << 20);
    assertThat(c.idleTimeoutMs()).isEqualTo(2_000);
    assertThat(c.bodyTimeoutMs()).isEqualTo(5_000);
    assertThat(c.headerTimeoutMs()).isEqualTo(3_000);
    assertThatThrownBy(() -> SidecarConfig.parse(new String[] {"--policy-file", "p.yaml", "--max-body", "2MiB",
        "--max-inflight-body", "1MiB"}, Map.of())).hasMessageContaining("--max-inflight-body: must be at least --max-body");
  }

  @Test
  void flagsWinOverEnvironmentAndEveryFlagHasAVariable() throws Exception {
    Map<String, String> env = Map.of(
        "RATEKEEPER_POLICY", "team-a/agents",
        "RATEKEEPER_REDIS_URL", "redis://env:6379",
        "RATEKEEPER_LISTEN", "127.0.0.1:9999",
        "RATEKEEPER_MAX_BODY", "1MB",
        "RATEKEEPER_UPSTREAMS", "anthropic=http://127.0.0.1:9001,openai=http://127.0.0.1:9002/",
        "RATEKEEPER_UPSTREAM_KEY_ANTHROPIC", "sk-ant-secret",
        "RATEKEEPER_UPSTREAM_KEY_MY_PROXY", "sk-other");
    SidecarConfig c = SidecarConfig.parse(new String[] {"--redis", "redis://flag:6380", "--max-body=2KiB"}, env);
    assertThat(c.policy().toString()).isEqualTo("team-a/agents");
    assertThat(c.redis().address()).isEqualTo("redis://flag:6380");
    assertThat(c.listen().port()).isEqualTo(9999);
    assertThat(c.maxBodyBytes()).isEqualTo(2048);
    assertThat(c.upstreamOverrides()).containsEntry("anthropic", "http://127.0.0.1:9001")
        .containsEntry("openai", "http://127.0.0.1:9002");
    assertThat(c.upstreamKeys()).containsEntry("anthropic", "sk-ant-secret").containsEntry("my-proxy", "sk-other");
    assertThat(c.toString()).doesNotContain("sk-ant-secret").doesNotContain("sk-other");
  }

  @Test
  void repeatableUpstreamFlag() throws Exception {
    SidecarConfig c = SidecarConfig.parse(new String[] {"--policy-file", "p.yaml",
        "--upstream", "anthropic=http://127.0.0.1:1", "--upstream", "openai=https://example.test"}, Map.of());
    assertThat(c.upstreamOverrides()).hasSize(2);
  }

  @Test
  void everyProblemIsNamedAtOnce() {
    assertThatThrownBy(() -> SidecarConfig.parse(new String[] {"--bogus", "1", "--listen", "nope",
        "--max-body", "lots", "--upstream", "anthropic=ftp://x", "--redis", "http://admin:hunter2@x", "--policy", "justname"}, Map.of()))
        .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactly(
            "unknown flag --bogus",
            "--policy: expected <namespace>/<name>, got \"justname\"",
            "--redis: expected redis://host:port or rediss://host:port; the value given is not one (not shown)",
            "--listen: expected HOST:PORT, got \"nope\"",
            "--upstream: expected NAME=http(s)://host[:port], got \"anthropic=ftp://x\"",
            "--max-body: expected a size such as 32MiB, 1MB or 65536, got \"lots\""));
  }

  @Test
  void policyFromRedisNeedsRedis() {
    assertThatThrownBy(() -> SidecarConfig.parse(new String[] {"--policy", "ns/p"}, Map.of()))
        .hasMessageContaining("--policy reads the compiled policy from Redis: --redis is required");
    assertThatThrownBy(() -> SidecarConfig.parse(new String[0], Map.of()))
        .hasMessageContaining("one of --policy-file or --policy is required");
  }

  @Test
  void redisPasswordsNeverShow() throws Exception {
    SidecarConfig c = SidecarConfig.parse(new String[] {"--policy", "ns/p", "--redis", "redis://u:hunter2@redis:6379",
        "--redis-password", "s3cret"}, Map.of());
    assertThat(c.redis().password()).isEqualTo("s3cret");
    assertThat(c.redis().url()).as("what the Redis client is given").isEqualTo("redis://u:hunter2@redis:6379");
    assertThat(c.redis().redactedUrl()).isEqualTo("redis://***@redis:6379");
    assertThat(c.toString()).doesNotContain("hunter2").doesNotContain("s3cret").contains("redis://redis:6379");
    assertThatThrownBy(() -> SidecarConfig.parse(new String[] {"--policy-file", "p.yaml", "--redis",
        "redis://u:hunter2@redis:port"}, Map.of())).hasMessageNotContaining("hunter2");
  }

  @Test
  void zeroDurationsAndSizesAreRefused() {
    assertThatThrownBy(() -> SidecarConfig.parse(new String[] {"--policy-file", "p.yaml", "--body-timeout", "0s",
        "--max-body", "0"}, Map.of()))
        .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactly(
            "--max-body: must be at least 1 byte",
            "--body-timeout: expected a positive duration such as 500ms, 10s, 2m or 168h, got \"0s\""));
  }

  @Test
  void theInjectorsVariablesAreRead() throws Exception {
    // the names the webhook writes into the injected container (SidecarEnvironment), as it writes them
    SidecarConfig c = SidecarConfig.parse(new String[] {SidecarEnvironment.POLICY.flag(), "team-a/agents"}, Map.of(
        SidecarEnvironment.REDIS_URL, "redis://redis.rk.svc:6379",
        SidecarEnvironment.REDIS_PASSWORD, "pw",
        SidecarEnvironment.POD_NAME, "agent-7f9c",
        SidecarEnvironment.ADMIN_LISTEN.env(), "10.1.2.3:9787",
        SidecarEnvironment.upstreamKeyVariable("my-proxy"), "sk-x"));
    assertThat(c.redis().password()).isEqualTo("pw");
    assertThat(c.sidecarId()).isEqualTo("agent-7f9c");
    assertThat(c.adminListen()).hasToString("10.1.2.3:9787");
    assertThat(c.upstreamKeys()).containsExactly(Map.entry("my-proxy", "sk-x"));
  }

  @Test
  void theHelpNamesEveryFlagAndItsVariable() {
    String usage = SidecarConfig.usage();
    for (String[] pair : new String[][] {{"--policy-file", "RATEKEEPER_POLICY_FILE"}, {"--policy", "RATEKEEPER_POLICY"},
        {"--redis", "RATEKEEPER_REDIS_URL"}, {"--redis-password", "RATEKEEPER_REDIS_PASSWORD"},
        {"--listen", "RATEKEEPER_LISTEN"}, {"--admin-listen", "RATEKEEPER_ADMIN_LISTEN"},
        {"--upstream", "RATEKEEPER_UPSTREAMS"}, {"--max-body", "RATEKEEPER_MAX_BODY"},
        {"--max-inflight-body", "RATEKEEPER_MAX_INFLIGHT_BODY"}, {"--idle-timeout", "RATEKEEPER_IDLE_TIMEOUT"},
        {"--body-timeout", "RATEKEEPER_BODY_TIMEOUT"}, {"--api-keys-file", "RATEKEEPER_API_KEYS_FILE"},
        {"--sidecar-id", "RATEKEEPER_SIDECAR_ID"}, {"--connect-timeout", "RATEKEEPER_CONNECT_TIMEOUT"},
        {"--upstream-timeout", "RATEKEEPER_UPSTREAM_TIMEOUT"}}) {
      assertThat(usage).contains(pair[0] + "=", "(" + pair[1] + ")");
    }
    assertThat(usage).contains("--exit-when-ready[=BOOL]", "(RATEKEEPER_EXIT_WHEN_READY)");
    assertThat(usage).contains("RATEKEEPER_UPSTREAM_KEY_<NAME>", "--help");
  }

  @Test
  void exitWhenReadyIsASwitchOffByDefault() throws Exception {
    assertThat(SidecarConfig.parse(new String[] {"--policy-file", "p.yaml"}, Map.of()).exitWhenReady()).isFalse();
    assertThat(SidecarConfig.parse(new String[] {"--policy-file", "p.yaml", "--exit-when-ready"}, Map.of())
        .exitWhenReady()).isTrue();
    assertThat(SidecarConfig.parse(new String[] {"--policy-file", "p.yaml"}, Map.of("RATEKEEPER_EXIT_WHEN_READY", "true"))
        .exitWhenReady()).isTrue();
  }
}
