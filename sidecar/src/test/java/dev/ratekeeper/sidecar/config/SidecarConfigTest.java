package dev.ratekeeper.sidecar.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
    assertThat(c.redisUrl()).isEqualTo("redis://flag:6380");
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
        .isInstanceOfSatisfying(SidecarConfig.ConfigException.class, e -> assertThat(e.problems()).containsExactly(
            "unknown flag --bogus",
            "--policy: expected <namespace>/<name>, got \"justname\"",
            "--redis: expected redis://host:port or rediss://host:port (the value given is not shown: it may hold a password)",
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
  void redisPasswordIsRedactedFromUrls() {
    assertThat(SidecarConfig.redactUrl("redis://:hunter2@redis:6379")).isEqualTo("redis://***@redis:6379");
    // a password that itself holds an @ is redacted whole
    assertThat(SidecarConfig.redactUrl("redis://user:p@ss@redis:6379/0")).isEqualTo("redis://***@redis:6379/0");
    assertThat(SidecarConfig.redactUrl("rediss://redis:6379")).isEqualTo("rediss://redis:6379");
  }
}
