package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.PolicyCodec;
import dev.ratekeeper.policy.compile.PolicyCompiler;
import dev.ratekeeper.policy.compile.PolicyDocument;
import dev.ratekeeper.policy.keys.RedisKeys;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Sidecars started with {@code --policy ns/name} follow the revision the operator writes: switched
 * within a second of the change message, heartbeats naming it, and a revision of an unknown
 * schemaVersion refused while the last good one stays enforced.
 */
class HotReloadIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: live, namespace: reload-it}
      spec:
        tiers:
        - name: everyone
          requests: {perMinute: 1, burst: %d}
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;
  static final String BODY = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,\"messages\":[]}";

  static SidecarFixture fixture;
  static StubLlmUpstream stub;
  static final List<Sidecar> sidecars = new ArrayList<>();
  static RedisKeys keys;

  @BeforeAll
  static void start() throws Exception {
    fixture = new SidecarFixture();
    fixture.startRedis();
    stub = StubLlmUpstream.start();
    CompiledPolicy first = publish(2);
    keys = new RedisKeys(first.id());
    for (int i = 0; i < 3; i++) {
      sidecars.add(fixture.sidecar(Map.of(), "--policy", "reload-it/live", "--redis", fixture.redisUrl(),
          "--upstream", "anthropic=" + stub.url(), "--sidecar-id", "live-" + i));
    }
  }

  @AfterAll
  static void stop() {
    fixture.close();
    stub.close();
  }

  /** Writes a revision and switches to it the way the operator does, then announces it. */
  static CompiledPolicy publish(int burst) throws Exception {
    PolicyDocument doc = PolicyDocument.parse(POLICY.formatted(burst));
    CompiledPolicy policy = PolicyCompiler.compile(doc.id(), doc.spec()).policy();
    RedisKeys k = new RedisKeys(doc.id());
    fixture.redis("SET", k.revision(policy.revision()), PolicyCodec.toJson(policy));
    fixture.redis("SET", k.currentRevision(), policy.revision());
    fixture.redis("PUBLISH", k.changeChannel(), policy.revision());
    return policy;
  }

  @Test
  void aNewRevisionIsEnforcedByEverySidecarWithinASecondAndAnUnknownSchemaIsRefused() throws Exception {
    String firstRevision = sidecars.get(0).policy().revision();
    // heartbeats name the enforced revision
    for (Sidecar s : sidecars) {
      assertThat(fixture.redis("GET", keys.sidecar("live-" + sidecars.indexOf(s))))
          .isEqualTo(firstRevision);
    }
    // burst 2 across the fleet for user u1
    assertThat(fixture.post(sidecars.get(0), "/v1/messages", BODY, "X-Ratekeeper-User", "u1").statusCode()).isEqualTo(200);
    assertThat(fixture.post(sidecars.get(1), "/v1/messages", BODY, "X-Ratekeeper-User", "u1").statusCode()).isEqualTo(200);
    assertThat(fixture.post(sidecars.get(2), "/v1/messages", BODY, "X-Ratekeeper-User", "u1").statusCode()).isEqualTo(429);

    long published = System.nanoTime();
    CompiledPolicy second = publish(50);
    await().atMost(Duration.ofSeconds(1)).pollInterval(Duration.ofMillis(1)).until(() -> sidecars.stream()
        .allMatch(s -> s.policy().revision().equals(second.revision())));
    // figure for docs/benchmarks.md: write + switch + publish, until all three sidecars enforce it
    System.out.printf("FIGURE policy-change-to-enforced-by-3-sidecars ms=%.1f%n", (System.nanoTime() - published) / 1e6);
    // the counters are keyed by user, not revision: u1 keeps its 2 spent and now has 48 more
    int ok = 0;
    for (int i = 0; i < 60; i++) {
      ok += fixture.post(sidecars.get(i % 3), "/v1/messages", BODY, "X-Ratekeeper-User", "u1").statusCode() == 200 ? 1 : 0;
    }
    assertThat(ok).isEqualTo(48);
    await().atMost(Duration.ofSeconds(7)).untilAsserted(() -> {
      for (int i = 0; i < 3; i++) {
        assertThat(fixture.redis("GET", keys.sidecar("live-" + i))).isEqualTo(second.revision());
      }
    });

    // a revision written by a newer Ratekeeper: refused, the last good one stays
    String future = PolicyCodec.toJson(second).replace("\"schemaVersion\":1", "\"schemaVersion\":99");
    fixture.redis("SET", keys.revision("future"), future);
    fixture.redis("SET", keys.currentRevision(), "future");
    fixture.redis("PUBLISH", keys.changeChannel(), "future");
    await().atMost(Duration.ofSeconds(3)).until(() -> sidecars.stream().allMatch(s -> "future".equals(s.refusedRevision())));
    assertThat(sidecars).allMatch(s -> s.policy().revision().equals(second.revision()));
  }
}
