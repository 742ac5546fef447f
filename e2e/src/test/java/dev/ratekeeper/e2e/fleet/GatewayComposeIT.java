package dev.ratekeeper.e2e.fleet;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.ratekeeper.e2e.Processes;
import dev.ratekeeper.e2e.fleet.Fleet.Sidecar;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * examples/gateway/docker-compose.yaml, checked without Docker (no engine runs where the project is
 * built): the {@code gateway} service's command line and environment, read from the file, start the
 * built jar as a process; the {@code redis} service's flags start a real redis-server. Only what a
 * container would see differently is swapped: the Redis host, the ports (free ones, still on every
 * interface), the mounted files (the example policy, and the example keys file copied as the README
 * says), the provider URLs (the stub) and the provider key ({@code ANTHROPIC_API_KEY}). Then it is
 * called as a client would.
 */
class GatewayComposeIT {
  static final Path DIR = Processes.ROOT.resolve("examples/gateway");
  static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  static final String MESSAGES = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  static JsonNode compose;
  static Fleet fleet;
  static Sidecar gateway;

  @BeforeAll
  static void start() throws IOException {
    compose = YAML.readTree(DIR.resolve("docker-compose.yaml").toFile());
    fleet = new Fleet().startRedisWith(redisSettings(compose.at("/services/redis/command"))).startStub();
    Path keys = Files.createTempFile("end-user-keys", ".txt");
    Files.copy(DIR.resolve("end-user-keys.example"), keys, java.nio.file.StandardCopyOption.REPLACE_EXISTING);

    JsonNode service = compose.at("/services/gateway");
    Map<String, String> mounts = new LinkedHashMap<>();
    for (JsonNode volume : service.path("volumes")) { // ./policy.yaml:/etc/ratekeeper/policy.yaml:ro
      String[] parts = volume.asText().split(":");
      mounts.put(parts[1], DIR.resolve(parts[0]).normalize().toString());
    }
    for (JsonNode secret : service.path("secrets")) {
      mounts.put("/run/secrets/" + secret.asText(), keys.toString());
    }
    List<String> args = new ArrayList<>(List.of("-jar", Processes.classpathOf(Processes.SIDECAR_JAR)));
    for (JsonNode arg : service.path("command")) {
      String a = arg.asText();
      a = mounts.getOrDefault(a, a);
      a = a.replace("redis://redis:6379", fleet.redisUrl());
      a = a.replace("0.0.0.0:8787", "0.0.0.0:0").replace("0.0.0.0:9787", "0.0.0.0:0"); // it says which it bound
      args.add(a);
    }
    args.addAll(List.of("--upstream", "anthropic=http://127.0.0.1:" + fleet.stubPort,
        "--upstream", "openai=http://127.0.0.1:" + fleet.stubPort));
    Map<String, String> env = new LinkedHashMap<>();
    service.path("environment").fields().forEachRemaining(e -> env.put(e.getKey(), interpolate(e.getValue().asText())));
    Process process = fleet.processes().java("compose-gateway", env, args);
    Processes.SidecarPorts ports = fleet.processes().awaitSidecarPorts("compose-gateway", process);
    gateway = new Sidecar("compose-gateway", process, ports.proxy(), ports.admin());
    fleet.processes().awaitOk("http://127.0.0.1:" + ports.admin() + "/readyz", gateway.name(), process);
  }

  @AfterAll
  static void stop() {
    if (fleet != null) {
      fleet.close();
    }
  }

  /** {@code ${VAR:?msg}} and {@code ${VAR:-default}} as Compose reads them, with a test key for ANTHROPIC_API_KEY. */
  static String interpolate(String value) {
    Map<String, String> shell = Map.of("ANTHROPIC_API_KEY", "sk-ant-compose-test");
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("\\$\\{([A-Z_]+)(:[?-])?([^}]*)}").matcher(value);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      String set = shell.get(m.group(1));
      String replacement = set != null ? set : ":-".equals(m.group(2)) ? m.group(3) : "";
      if (set == null && ":?".equals(m.group(2))) {
        throw new IllegalStateException("compose would refuse to start: " + m.group(3));
      }
      m.appendReplacement(out, java.util.regex.Matcher.quoteReplacement(replacement));
    }
    m.appendTail(out);
    return out.toString();
  }

  /** The redis service's {@code redis-server --k v ...} as redis.conf lines. */
  static List<String> redisSettings(JsonNode command) {
    List<String> words = new ArrayList<>();
    command.forEach(w -> words.add(w.asText()));
    assertThat(words.get(0)).isEqualTo("redis-server");
    List<String> lines = new ArrayList<>();
    for (int i = 1; i + 1 < words.size(); i += 2) {
      assertThat(words.get(i)).startsWith("--");
      String value = words.get(i + 1);
      lines.add(words.get(i).substring(2) + " " + (value.isEmpty() ? "\"\"" : value));
    }
    return lines;
  }

  @Test
  void theComposeGatewayServesKeyHoldersAndRefusesOthers() {
    Fleet.Answer alice = Fleet.exchange(gateway.proxyPort(), "X-Ratekeeper-Api-Key", "rk-change-me-alice");
    assertThat(alice.status()).isEqualTo(200);
    assertThat(alice.metered()).as("decided by the limits, on Redis").isTrue();
    assertThat(Fleet.exchange(gateway.proxyPort(), "X-Ratekeeper-User", "alice").status())
        .as("no key: the user header is not enough").isEqualTo(401);
    assertThat(Fleet.exchange(gateway.proxyPort(), "X-Ratekeeper-Api-Key", "rk-guess").status()).isEqualTo(401);
    // bob is on the free tier (burst 5)
    List<Integer> bob = new ArrayList<>();
    for (int i = 0; i < 7; i++) {
      bob.add(Fleet.exchange(gateway.proxyPort(), "X-Ratekeeper-Api-Key", "rk-change-me-bob").status());
    }
    assertThat(bob).containsExactly(200, 200, 200, 200, 200, 429, 429);
  }

  @Test
  void theRedisServiceKeepsEverySpendAndEveryCounter() {
    assertThat(fleet.redis("CONFIG", "GET", "appendfsync")).endsWith("always");
    assertThat(fleet.redis("CONFIG", "GET", "maxmemory-policy")).endsWith("noeviction");
  }

  @Test
  void thePublishedPortsAreTheOnesTheGatewayListensOn() {
    JsonNode service = compose.at("/services/gateway");
    List<String> command = new ArrayList<>();
    service.path("command").forEach(w -> command.add(w.asText()));
    List<String> ports = new ArrayList<>();
    service.path("ports").forEach(p -> ports.add(p.asText()));
    assertThat(command).containsSubsequence("--listen", "0.0.0.0:8787").containsSubsequence("--admin-listen",
        "0.0.0.0:9787").containsSubsequence("--mode", "gateway");
    assertThat(ports).containsExactly("8787:8787", "127.0.0.1:9787:9787");
    assertThat(service.path("image").asText()).startsWith("ghcr.io/ratekeeper/ratekeeper-sidecar:");
    assertThat(service.path("read_only").asBoolean()).isTrue();
  }
}
