package dev.ratekeeper.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ratekeeper.cli.ConfigException;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class OperatorConfigTest {
  @Test
  void defaults() throws Exception {
    OperatorConfig c = OperatorConfig.parse(new String[0], Map.of());

    assertThat(c.redis().address()).isEqualTo("redis://127.0.0.1:6379");
    assertThat(c.namespaces()).isEmpty();
    assertThat(c.adminListen().getPort()).isEqualTo(9788);
    assertThat(c.adminListen().getHostString()).isEqualTo("0.0.0.0");
    assertThat(c.refreshInterval()).isEqualTo(Duration.ofSeconds(10));
    assertThat(c.sidecarLiveness()).isEqualTo(Duration.ofSeconds(15));
    assertThat(c.revisionRetention()).isEqualTo(Duration.ofDays(7));
    assertThat(c.leaderElection()).isFalse();
    assertThat(c.settings().leaderElection()).isNull();
    assertThat(c.secretSelector()).isNull();
    assertThat(c.settings().secretSelector()).as("every Secret, as before the flag").isNull();
  }

  @Test
  void theSecretSelectorComesFromItsFlagOrVariable() throws Exception {
    Map<String, String> env = Map.of("RATEKEEPER_SECRET_SELECTOR", " ratekeeper.dev/secret=true ");
    assertThat(OperatorConfig.parse(new String[0], env).settings().secretSelector())
        .isEqualTo("ratekeeper.dev/secret=true");
    assertThat(OperatorConfig.parse(new String[] {"--secret-selector", "team in (a,b), !legacy"}, env)
        .settings().secretSelector()).isEqualTo("team in (a,b), !legacy");
    assertThat(OperatorConfig.parse(new String[] {"--secret-selector=app.kubernetes.io/part-of!=web"}, Map.of())
        .secretSelector()).isEqualTo("app.kubernetes.io/part-of!=web");
    assertThat(OperatorConfig.parse(new String[0], Map.of("RATEKEEPER_SECRET_SELECTOR", " ")).secretSelector())
        .as("a blank variable is absent, like every other").isNull();
  }

  @Test
  void aBadSecretSelectorIsNamed() {
    assertThatThrownBy(() -> OperatorConfig.parse(new String[0],
        Map.of("RATEKEEPER_SECRET_SELECTOR", "ratekeeper.dev/secret=true;rm")))
        .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactly(
            "--secret-selector: expected a label selector such as ratekeeper.dev/secret=true (letters, digits,"
                + " . _ / - = != ! , in (...)), got \"ratekeeper.dev/secret=true;rm\""));
    assertThatThrownBy(() -> OperatorConfig.parse(new String[] {"--secret-selector", ""}, Map.of()))
        .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactly(
            "--secret-selector: expected a label selector such as ratekeeper.dev/secret=true, got an empty value"));
    assertThatThrownBy(() -> OperatorConfig.parse(new String[] {"--secret-selector", "a=" + "b".repeat(1100)},
        Map.of()))
        .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactly(
            "--secret-selector: a label selector of at most 1024 characters, got 1102"));
    assertThatThrownBy(() -> OperatorConfig.parse(new String[] {"--secret-selector", "=,!"}, Map.of()))
        .isInstanceOf(ConfigException.class);
  }

  @Test
  void everyFlagReadsItsEnvironmentVariableAndFlagsWin() throws Exception {
    Map<String, String> env = Map.of(
        "RATEKEEPER_REDIS_URL", "rediss://redis:6380",
        "RATEKEEPER_REDIS_PASSWORD", "pw",
        "RATEKEEPER_NAMESPACES", "team-a, team-b",
        "RATEKEEPER_ADMIN_LISTEN", "127.0.0.1:9000",
        "RATEKEEPER_REFRESH_INTERVAL", "30s",
        "RATEKEEPER_LEADER_ELECTION", "true",
        "POD_NAMESPACE", "ratekeeper-system",
        "POD_NAME", "operator-0");

    OperatorConfig fromEnv = OperatorConfig.parse(new String[0], env);
    assertThat(fromEnv.redis().tls()).isTrue();
    assertThat(fromEnv.redis().password()).isEqualTo("pw");
    assertThat(fromEnv.namespaces()).isEqualTo(Set.of("team-a", "team-b"));
    assertThat(fromEnv.adminListen().getPort()).isEqualTo(9000);
    assertThat(fromEnv.refreshInterval()).isEqualTo(Duration.ofSeconds(30));
    assertThat(fromEnv.settings().leaderElection())
        .isEqualTo(new OperatorSettings.LeaderElection("ratekeeper-operator", "ratekeeper-system", "operator-0"));

    OperatorConfig flags = OperatorConfig.parse(new String[] {"--namespaces", "", "--refresh-interval=2s",
        "--leader-election=false", "--lease-name", "rk", "--redis", "redis://other:1"}, env);
    assertThat(flags.namespaces()).isEmpty();
    assertThat(flags.refreshInterval()).isEqualTo(Duration.ofSeconds(2));
    assertThat(flags.leaderElection()).isFalse();
    assertThat(flags.leaseName()).isEqualTo("rk");
    assertThat(flags.redis().address()).isEqualTo("redis://other:1");
    assertThat(flags.redis().password()).isEqualTo("pw");
  }

  @Test
  void aBareBooleanFlagMeansTrue() throws Exception {
    assertThat(OperatorConfig.parse(new String[] {"--leader-election"}, Map.of()).leaderElection()).isTrue();
    assertThat(OperatorConfig.parse(new String[0], Map.of()).settings().serverSideApply()).isTrue();
    assertThat(OperatorConfig.parse(new String[] {"--server-side-apply=false"}, Map.of()).settings().serverSideApply())
        .isFalse();
    assertThat(OperatorConfig.parse(new String[0], Map.of("RATEKEEPER_SERVER_SIDE_APPLY", "false")).settings()
        .serverSideApply()).isFalse();
    assertThat(OperatorConfig.parse(new String[] {"-h"}, Map.of()).help()).isTrue();
    assertThat(OperatorConfig.COMMAND.wantsHelp(new String[] {"--bogus", "--help"})).isTrue();
    // one rule for booleans in every program: true/false, yes/no, 1/0, any case
    assertThat(OperatorConfig.parse(new String[0], Map.of("RATEKEEPER_LEADER_ELECTION", "Yes")).leaderElection())
        .isTrue();
    assertThatThrownBy(() -> OperatorConfig.parse(new String[] {"--leader-election=maybe"}, Map.of()))
        .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactly(
            "--leader-election: expected true or false, got \"maybe\""));
  }

  @Test
  void zeroDurationsAreRefusedAsInEveryProgram() {
    assertThatThrownBy(() -> OperatorConfig.parse(new String[] {"--refresh-interval", "0s"},
        Map.of("RATEKEEPER_CLEANUP_TIMEOUT", "0ms")))
        .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactly(
            "--refresh-interval: expected a positive duration such as 500ms, 10s, 2m or 168h, got \"0s\"",
            "--cleanup-timeout: expected a positive duration such as 500ms, 10s, 2m or 168h, got \"0ms\""));
  }

  @Test
  void aRedisPasswordNeverShows() throws Exception {
    OperatorConfig c = OperatorConfig.parse(new String[] {"--redis", "redis://ops:hunter2@redis:6379"}, Map.of());
    assertThat(c.redis().password()).isEqualTo("hunter2");
    assertThat(c.toString()).doesNotContain("hunter2").contains("redis://redis:6379");
    assertThatThrownBy(() -> OperatorConfig.parse(new String[] {"--redis", "http://ops:hunter2@redis:6379"}, Map.of()))
        .hasMessageNotContaining("hunter2").hasMessageContaining("--redis: expected redis://host:port");
  }

  @Test
  void theHelpNamesEveryFlagItsVariableAndTheWebhooksVariables() {
    String usage = OperatorConfig.usage();
    for (String name : new String[] {"--redis=", "RATEKEEPER_REDIS_URL", "--redis-password=", "RATEKEEPER_REDIS_PASSWORD",
        "--namespaces=", "RATEKEEPER_NAMESPACES", "--admin-listen=", "RATEKEEPER_ADMIN_LISTEN", "--refresh-interval=",
        "RATEKEEPER_REFRESH_INTERVAL", "--sidecar-liveness=", "RATEKEEPER_SIDECAR_LIVENESS", "--revision-retention=",
        "RATEKEEPER_REVISION_RETENTION", "--cleanup-timeout=", "RATEKEEPER_CLEANUP_TIMEOUT", "--leader-election[=BOOL]",
        "RATEKEEPER_LEADER_ELECTION", "--lease-name=", "RATEKEEPER_LEASE_NAME", "--lease-namespace=",
        "RATEKEEPER_LEASE_NAMESPACE", "--server-side-apply[=BOOL]", "RATEKEEPER_SERVER_SIDE_APPLY",
        "--secret-selector=", "RATEKEEPER_SECRET_SELECTOR", "--help", "RATEKEEPER_WEBHOOK_ENABLED"}) {
      assertThat(usage).contains(name);
    }
  }

  @Test
  void everyProblemIsNamedAtOnce() {
    assertThatThrownBy(() -> OperatorConfig.parse(new String[] {"--redis", "http://x", "--namespaces", "Team_A",
        "--admin-listen", "nope", "--refresh-interval", "soon", "--bogus", "--lease-name"}, Map.of()))
        .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactly(
            "unknown flag --bogus",
            "--lease-name: needs a value",
            "--redis: expected redis://host:port or rediss://host:port; the value given is not one (not shown)",
            "--namespaces: \"Team_A\" is not a namespace name",
            "--admin-listen: expected HOST:PORT, got \"nope\"",
            "--refresh-interval: expected a positive duration such as 500ms, 10s, 2m or 168h, got \"soon\""));
  }
}
