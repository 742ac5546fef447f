package dev.ratekeeper.sidecar.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.sidecar.config.SidecarConfig;
import dev.ratekeeper.sidecar.time.SidecarClock;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** --exit-when-ready (TrainingRun): the sidecar starts, calls itself, stops, and says whether all went as expected. */
class TrainingRunTest {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata:
        name: image-training
      spec:
        tiers:
        - name: default
          requests: {perMinute: 60}
      """;

  private static int train(String... extra) throws Exception {
    Path policy = Files.createTempFile("training", ".yaml");
    Files.writeString(policy, POLICY);
    List<String> args = new ArrayList<>(List.of("--policy-file", policy.toString(), "--exit-when-ready"));
    args.addAll(List.of(extra));
    SidecarConfig config = SidecarConfig.parse(args.toArray(String[]::new), Map.of());
    Vertx vertx = Vertx.vertx();
    Sidecar sidecar = Sidecar.start(vertx, config, SidecarClock.SYSTEM).toCompletionStage().toCompletableFuture()
        .get(30, TimeUnit.SECONDS);
    return TrainingRun.run(sidecar, vertx, config);
  }

  @Test
  void aTrainingRunOnPortsTheSystemPicksExitsZero() throws Exception {
    // port 0 is the one way to be sure the ports are free (a build on the host network, Kaniko, CI):
    // the calls go to the ports the sidecar was bound to
    assertThat(train("--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")).isZero();
  }

  @Test
  void aGatewayTrainingRunExitsZero() throws Exception {
    Path keys = Files.createTempFile("keys", ".txt");
    Files.writeString(keys, "alice: sk-test-123456\n");
    // a gateway answers the malformed call 401 (no end user's key) before it reads the body: refused all the same
    assertThat(train("--mode", "gateway", "--api-keys-file", keys.toString(),
        "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")).isZero();
  }
}
