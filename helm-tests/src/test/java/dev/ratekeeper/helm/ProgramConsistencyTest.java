package dev.ratekeeper.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Quantity;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

/**
 * What the chart tells the operator is what the operator understands: every variable it sets is
 * one OperatorConfig, WebhookConfig or the shared RedisEndpoint reads, with a value they accept; ports and names agree with
 * the programs' defaults. Read from the programs' source, so a renamed flag fails here.
 */
class ProgramConsistencyTest {
  /** Variables the JVM reads itself. */
  static final Set<String> JVM_VARIABLES = Set.of("JAVA_TOOL_OPTIONS");

  static Set<String> knownVariables() {
    Set<String> known = new TreeSet<>();
    for (var source : List.of(Repo.OPERATOR_CONFIG, Repo.WEBHOOK_CONFIG, Repo.REDIS_ENDPOINT, Repo.QUERY_CONFIG)) {
      known.addAll(Repo.all(source, "\"(RATEKEEPER_[A-Z0-9_]+|POD_NAME|POD_NAMESPACE)\""));
    }
    return known;
  }

  @Test
  void theProgramsReadTheVariablesThisTestExpects() {
    assertThat(knownVariables()).contains("RATEKEEPER_REDIS_URL", "RATEKEEPER_REDIS_PASSWORD",
        "RATEKEEPER_NAMESPACES", "RATEKEEPER_ADMIN_LISTEN", "RATEKEEPER_LEADER_ELECTION", "RATEKEEPER_LEASE_NAME",
        "RATEKEEPER_LEASE_NAMESPACE", "RATEKEEPER_WEBHOOK_ENABLED", "RATEKEEPER_SIDECAR_IMAGE", "POD_NAMESPACE");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("dev.ratekeeper.helm.Cases#all")
  void everyVariableTheChartSetsIsOneTheOperatorReads(String caseName) {
    Set<String> known = knownVariables();
    known.addAll(JVM_VARIABLES);
    assertThat(Chart.render(caseName).operatorEnv().keySet()).as("operator env in case %s", caseName)
        .isSubsetOf(known);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("dev.ratekeeper.helm.Cases#all")
  void everyValueIsOneTheOperatorAccepts(String caseName) {
    Rendered r = Chart.render(caseName);
    Map<String, EnvVar> env = r.operatorEnv();
    String durationPattern = Repo.constant(Repo.DURATIONS, "PATTERN").replace("\\\\", "\\");
    for (String name : List.of("RATEKEEPER_REFRESH_INTERVAL", "RATEKEEPER_SIDECAR_LIVENESS",
        "RATEKEEPER_REVISION_RETENTION", "RATEKEEPER_WEBHOOK_CA_VALIDITY", "RATEKEEPER_WEBHOOK_CERT_VALIDITY",
        "RATEKEEPER_WEBHOOK_RENEW_BEFORE")) {
      assertThat(env.get(name).getValue()).as(name).matches(durationPattern);
    }
    for (String name : List.of("RATEKEEPER_LEADER_ELECTION", "RATEKEEPER_WEBHOOK_ENABLED")) {
      assertThat(env.get(name).getValue()).as(name).isIn("true", "false");
    }
    assertThat(env.get("RATEKEEPER_SIDECAR_MODE").getValue()).isIn(Repo.enumConstants(Repo.SIDECAR_MODE));
    assertThat(env.get("RATEKEEPER_ON_MISSING_POLICY").getValue())
        .isIn(Repo.enumConstants(Repo.MISSING_POLICY_ACTION));
    assertThat(env.get("RATEKEEPER_SIDECAR_IMAGE_PULL_POLICY").getValue()).isIn("IfNotPresent", "Always", "Never");
    for (String name : List.of("RATEKEEPER_SIDECAR_CPU_REQUEST", "RATEKEEPER_SIDECAR_MEMORY_REQUEST",
        "RATEKEEPER_SIDECAR_CPU_LIMIT", "RATEKEEPER_SIDECAR_MEMORY_LIMIT")) {
      String v = env.get(name).getValue();
      if (!v.isEmpty()) { // "" means none to WebhookConfig
        Quantity.getAmountInBytes(new Quantity(v));
      }
    }
    // WebhookConfig's own rules
    assertThat(hours(env, "RATEKEEPER_WEBHOOK_RENEW_BEFORE")).isLessThan(hours(env, "RATEKEEPER_WEBHOOK_CERT_VALIDITY"));
    assertThat(hours(env, "RATEKEEPER_WEBHOOK_CERT_VALIDITY")).isLessThanOrEqualTo(
        hours(env, "RATEKEEPER_WEBHOOK_CA_VALIDITY"));
    // one URL, or the comma-separated seed nodes or sentinels of RATEKEEPER_[SIDECAR_]REDIS_MODE
    for (String url : env.get("RATEKEEPER_SIDECAR_REDIS_URL").getValue().split(",")) {
      URI sidecarRedis = URI.create(url);
      assertThat(sidecarRedis.getScheme()).isIn("redis", "rediss");
      assertThat(sidecarRedis.getUserInfo()).as("no password in the URL written into every pod").isNull();
      assertThat(sidecarRedis.getHost()).doesNotStartWith("127.").isNotEqualTo("localhost");
    }
    for (String url : env.get("RATEKEEPER_REDIS_URL").getValue().split(",")) {
      assertThat(URI.create(url).getScheme()).isIn("redis", "rediss");
      assertThat(URI.create(url).getHost()).isNotNull();
    }
    for (String name : List.of("RATEKEEPER_REDIS_MODE", "RATEKEEPER_SIDECAR_REDIS_MODE")) {
      if (env.containsKey(name)) {
        assertThat(env.get(name).getValue()).as(name).isIn("cluster", "sentinel");
      }
    }
  }

  @Test
  void portsAgreeWithTheProgramsDefaults() {
    Rendered r = Chart.render("default");
    String admin = Repo.constant(Repo.OPERATOR_CONFIG, "DEFAULT_ADMIN");
    String webhook = Repo.constant(Repo.WEBHOOK_CONFIG, "DEFAULT_LISTEN");
    assertThat(r.envValue("RATEKEEPER_ADMIN_LISTEN")).isEqualTo(admin);
    assertThat(r.envValue("RATEKEEPER_WEBHOOK_LISTEN")).isEqualTo(webhook);
    assertThat(port(r, "admin")).isEqualTo(Integer.parseInt(admin.substring(admin.lastIndexOf(':') + 1)));
    assertThat(port(r, "webhook")).isEqualTo(Integer.parseInt(webhook.substring(webhook.lastIndexOf(':') + 1)));
    // the sidecar's admin port, as the webhook injects it (on the pod IP, for the kubelet's probes and
    // Prometheus) and the sidecar listens by default (loopback, when run by hand)
    int sidecarAdmin = Repo.intConstant(Repo.SIDECAR_CONTAINER, "ADMIN_PORT");
    assertThat(Repo.read(Repo.SIDECAR_CONFIG)).contains("\"127.0.0.1:" + sidecarAdmin + "\"");
    assertThat(Repo.read(Repo.SIDECAR_CONTAINER)).contains("\"$(POD_IP):\" + ADMIN_PORT");
  }

  @Test
  void theDefaultSidecarImageIsTheOneTheOperatorWouldInject() {
    assertThat(Chart.render("default").envValue("RATEKEEPER_SIDECAR_IMAGE"))
        .isEqualTo(Repo.constant(Repo.INJECTION_SETTINGS, "DEFAULT_IMAGE"));
  }

  @Test
  void sidecarSettingsReachTheOperator() {
    Rendered r = Chart.render("webhook-ignore");
    assertThat(r.envValue("RATEKEEPER_SIDECAR_MODE")).isEqualTo("Container");
    assertThat(r.envValue("RATEKEEPER_SIDECAR_JAVA_OPTIONS"))
        .isEqualTo("-XX:+UseSerialGC -XX:MaxRAMPercentage=70 -XX:TieredStopAtLevel=1");
    // unset: the operator's own default applies
    assertThat(Chart.render("default").operatorEnv()).doesNotContainKey("RATEKEEPER_SIDECAR_JAVA_OPTIONS");
    assertThat(Chart.render("default").envValue("RATEKEEPER_SIDECAR_CPU_LIMIT")).isEmpty();
  }

  @Test
  void theSecretSelectorReachesTheOperatorOnlyWhenSet() {
    assertThat(Chart.render("restricted-namespaces").envValue("RATEKEEPER_SECRET_SELECTOR"))
        .isEqualTo("ratekeeper.dev/secret=true");
    // unset: the operator watches every Secret, as without the flag
    assertThat(Chart.render("default").operatorEnv()).doesNotContainKey("RATEKEEPER_SECRET_SELECTOR");
    // the schema refuses what the operator would refuse at start
    String schema = Repo.read(Repo.CHART.resolve("values.schema.json"));
    assertThat(schema).contains("\"maxLength\": " + Repo.intConstant(Repo.OPERATOR_CONFIG, "MAX_SELECTOR_LENGTH"));
    assertThat(Repo.read(Repo.OPERATOR_CONFIG)).contains("\"^[A-Za-z0-9._/=!,() -]+$\"");
    assertThat(schema).contains("\"^[A-Za-z0-9._/=!,() -]*$\"");
  }

  private static int port(Rendered r, String name) {
    return r.operatorContainer().getPorts().stream().filter(p -> p.getName().equals(name)).findFirst().orElseThrow()
        .getContainerPort();
  }

  private static long hours(Map<String, EnvVar> env, String name) {
    return Duration.parse("PT" + env.get(name).getValue().toUpperCase()).toHours();
  }
}
