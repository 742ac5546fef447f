package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.ratekeeper.sidecar.runtime.BuildVersion;
import dev.ratekeeper.sidecar.runtime.PolicyLoader;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.sidecar.time.ManualClock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Live sidecars are counted from heartbeats on the sidecar's injected clock: a heartbeat is live for
 * 15 s of that clock, so moving the clock ages the fleet without waiting (LocalFallback divides every
 * limit by this count). Heartbeats are scored with the same clock. Each heartbeat also says what the
 * sidecar runs (build version, sidecar or gateway) beside the revision key, whose value stays the bare
 * revision that operators before the build hash compare.
 */
class HeartbeatIT {
  private static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: beats, namespace: heartbeat-it}
      spec:
        onStoreUnavailable: LocalFallback
        tiers:
        - name: everyone
          requests: {perMinute: 100}
        upstreams:
        - {name: anthropic, url: "http://127.0.0.1:9", format: anthropic}
      """;
  private static final String SIDECARS = "rk:{heartbeat-it/beats}:sidecars";
  private static final String SIDECAR = "rk:{heartbeat-it/beats}:sidecar:";

  private final SidecarFixture fixture = new SidecarFixture();

  @AfterEach
  void stop() {
    fixture.close();
  }

  @Test
  void aHeartbeatOlderThan15sOnTheClockIsNoLongerCounted() {
    fixture.startRedis();
    ManualClock clock = new ManualClock();
    fixture.clock(clock);
    // two other sidecars: one last heard 14 s ago, one 16 s ago (gone)
    fixture.redis("ZADD", SIDECARS, Long.toString(clock.millis() - 14_000), "quiet",
        Long.toString(clock.millis() - 16_000), "gone");
    Path policy = SidecarFixture.policyFile(POLICY);
    Sidecar sidecar = fixture.sidecar(Map.of(), "--policy-file", policy.toString(), "--redis", fixture.redisUrl());

    // itself (its heartbeat is scored with the clock, once written) and "quiet"; not "gone". The test
    // counts when it needs a count, instead of waiting for the sidecar's periodic count.
    await().atMost(Duration.ofSeconds(5)).until(() -> SidecarFixture.await(sidecar.countLiveSidecars()) == 2);
    assertThat(sidecar.liveSidecars()).isEqualTo(2);
    // its own heartbeat carries the clock's time, to the millisecond (the clock has not moved)
    String now = Long.toString(clock.millis());
    assertThat(fixture.redis("ZCOUNT", SIDECARS, now, now)).isEqualTo("1");

    // 1 s later on the clock "quiet" is 15 s old, still live; 1 ms after that it is older: only the sidecar is left
    clock.advanceMs(1_000);
    assertThat(SidecarFixture.await(sidecar.countLiveSidecars())).isEqualTo(2);
    clock.advanceMs(1);
    assertThat(SidecarFixture.await(sidecar.countLiveSidecars())).isEqualTo(1);
    assertThat(sidecar.liveSidecars()).isEqualTo(1);
  }

  @Test
  void theHeartbeatCarriesTheBuildVersionAndModeBesideTheBareRevision() throws Exception {
    fixture.startRedis();
    Path policy = SidecarFixture.policyFile(POLICY);
    String revision = PolicyLoader.fromFile(policy).revision();
    fixture.sidecar(Map.of(), "--policy-file", policy.toString(), "--redis", fixture.redisUrl(),
        "--sidecar-id", "agent-7d4b9/x");

    String build = SIDECAR + "agent-7d4b9%2Fx:build";
    await().atMost(Duration.ofSeconds(5)).until(() -> "1".equals(fixture.redis("EXISTS", build)));
    String expected = System.getProperty("ratekeeper.version");
    assertThat(expected).as("surefire passes the project's version").isNotBlank();
    assertThat(BuildVersion.current()).isEqualTo(expected);
    assertThat(fixture.redis("HGET", build, "version")).isEqualTo(expected);
    assertThat(fixture.redis("HGET", build, "mode")).isEqualTo("sidecar");
    assertThat(fixture.redis("HLEN", build)).isEqualTo("2");
    // same lifetime as the revision key: gone 15 s after the sidecar stops
    assertThat(fixture.redisLong("PTTL", build)).isBetween(1L, 15_000L);
    assertThat(fixture.redisLong("PTTL", SIDECAR + "agent-7d4b9%2Fx")).isBetween(1L, 15_000L);
    // the old form, unchanged: the value is the revision and nothing else
    assertThat(fixture.redis("GET", SIDECAR + "agent-7d4b9%2Fx")).isEqualTo(revision);
  }

  @Test
  void aGatewayReportsItselfAsOne() throws Exception {
    fixture.startRedis();
    Path keys = Files.createTempFile("heartbeat-keys", ".txt");
    Files.writeString(keys, "alice: ak-alice\n");
    fixture.sidecar(Map.of(), "--mode", "gateway", "--policy-file", SidecarFixture.policyFile(POLICY).toString(),
        "--redis", fixture.redisUrl(), "--sidecar-id", "gateway-1", "--api-keys-file", keys.toString());

    String build = SIDECAR + "gateway-1:build";
    await().atMost(Duration.ofSeconds(5)).until(() -> "gateway".equals(fixture.redis("HGET", build, "mode")));
    assertThat(fixture.redis("HGET", build, "version")).isEqualTo(System.getProperty("ratekeeper.version"));
  }
}
