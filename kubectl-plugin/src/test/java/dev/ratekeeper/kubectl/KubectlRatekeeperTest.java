package dev.ratekeeper.kubectl;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The plugin's own logic with kubectl replaced by a recorder: which kubectl calls each command makes
 * (paths, encoding, flags passed through) and how the API's answers read. The real kubectl, API
 * server and operator are exercised by e2e's KubectlPluginIT.
 */
class KubectlRatekeeperTest {
  static final String EXPLANATION = """
      {"apiVersion":"query.ratekeeper.dev/v1alpha1","kind":"LimitsExplanation","namespace":"team-a","policy":"agents",
       "revision":"7f3c2a1","user":"alice","tier":"free","tierSource":"defaultTier","shadow":false,
       "time":"2026-12-03T12:00:00Z","blockedBy":["tier.requests.perMinute"],"limits":[
        {"dimension":"tier.requests.perMinute","scope":"user","counter":"rate","unit":"requests","limit":5,
         "perMinute":10,"used":5,"remaining":0,"resetMs":30000,"blocking":true,"waitMs":6000},
        {"dimension":"budget","scope":"user","counter":"quota","unit":"usd","limit":"1.00","period":"month",
         "used":"0.25","remaining":"0.75","resetMs":2419200000,"blocking":false,"waitMs":0}]}
      """;

  final List<List<String>> calls = new ArrayList<>();
  final List<List<String>> globalFlags = new ArrayList<>();
  final ByteArrayOutputStream out = new ByteArrayOutputStream();
  final ByteArrayOutputStream err = new ByteArrayOutputStream();

  int run(Map<List<String>, Kubectl.Result> answers, String... args) {
    KubectlRatekeeper root = new KubectlRatekeeper(new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8), flags -> {
          globalFlags.add(flags);
          return new Kubectl("kubectl", flags) {
            @Override
            public Result run(List<String> kubectlArgs) {
              calls.add(kubectlArgs);
              return answers.getOrDefault(kubectlArgs, new Result(1, "", "Error from server (NotFound): the server "
                  + "could not find the requested resource"));
            }
          };
        });
    return new CommandLine(root).execute(args);
  }

  String out() {
    return out.toString(StandardCharsets.UTF_8);
  }

  @Test
  void explainAsksThePolicysExplainViewAndPrintsEveryLimit() {
    String path = "/apis/query.ratekeeper.dev/v1alpha1/namespaces/team-a/ratelimitpolicies/agents/explain"
        + "?user=alice%2Bbot&model=claude-haiku-4-5&run=task+7";
    int exit = run(Map.of(List.of("get", "--raw", path), new Kubectl.Result(0, EXPLANATION, "")),
        "explain", "-n", "team-a", "agents", "--user", "alice+bot", "--model", "claude-haiku-4-5", "--run", "task 7",
        "--context", "prod");

    assertThat(exit).isZero();
    assertThat(calls).containsExactly(List.of("get", "--raw", path));
    assertThat(globalFlags).containsExactly(List.of("--context=prod"));
    assertThat(out()).contains("Blocked now by: tier.requests.perMinute")
        .containsPattern("tier\\.requests\\.perMinute +user +5 req burst, 10/min +5 +0 +full in 30s +YES \\(6s\\)")
        .containsPattern("budget +user +\\$1\\.00 per month +\\$0\\.25 +\\$0\\.75 +resets in 28d +no");
  }

  @Test
  void withoutNamespaceTheContextsNamespaceIsUsed() {
    List<String> view = List.of("config", "view", "--minify", "-o", "jsonpath={..namespace}");
    String path = "/apis/query.ratekeeper.dev/v1alpha1/namespaces/ctx-ns/ratelimitpolicies/agents/top";
    int exit = run(Map.of(view, new Kubectl.Result(0, "ctx-ns", ""), List.of("get", "--raw", path),
        new Kubectl.Result(0, "{\"namespace\":\"ctx-ns\",\"policy\":\"agents\",\"period\":\"2026-12\",\"spendUsd\":"
            + "\"3.50\",\"requests\":12,\"throttled\":4,\"users\":[{\"user\":\"alice\",\"tier\":\"free\","
            + "\"spendUsd\":\"3.00\",\"tokens\":1200},{\"user\":\"bob\",\"spendUsd\":\"0.50\"}]}", "")),
        "top", "agents");

    assertThat(exit).isZero();
    assertThat(calls).containsExactly(view, List.of("get", "--raw", path));
    assertThat(out()).contains("period 2026-12: spend $3.50, 12 requests admitted, 4 throttled")
        .containsPattern("alice +free +\\$3\\.00 +1200").containsPattern("bob +- +\\$0\\.50 +-");
  }

  @Test
  void aRefusalIsKubectlsOwnMessageAndExitOne() {
    int exit = run(Map.of(), "explain", "-n", "team-a", "agents", "--user", "alice");

    assertThat(exit).isEqualTo(1);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("could not find the requested resource")
        .contains("kubectl get apiservice v1alpha1.query.ratekeeper.dev");
  }

  @Test
  void statusListsPoliciesThenAsksEachOnesEnforcement() {
    List<String> list = List.of("get", "ratelimitpolicies.ratekeeper.dev", "--all-namespaces", "-o", "json");
    String path = "/apis/query.ratekeeper.dev/v1alpha1/namespaces/team-a/ratelimitpolicies/agents/enforcement";
    int exit = run(Map.of(list, new Kubectl.Result(0, "{\"items\":[{\"metadata\":{\"namespace\":\"team-a\","
            + "\"name\":\"agents\"},\"status\":{\"revision\":\"7f3c2a1\",\"conditions\":[{\"type\":\"Accepted\","
            + "\"status\":\"True\",\"reason\":\"Compiled\"},{\"type\":\"Enforced\",\"status\":\"False\","
            + "\"reason\":\"SidecarsBehind\"}]}}]}", ""),
        List.of("get", "--raw", path), new Kubectl.Result(0, "{\"revision\":\"7f3c2a1\",\"live\":3,\"synced\":2,"
            + "\"sidecars\":[{\"id\":\"agent-1\",\"secondsAgo\":3,\"revision\":\"7f3c2a1\",\"version\":\"0.2.0\","
            + "\"mode\":\"sidecar\",\"live\":true},"
            + "{\"id\":\"agent-2\",\"secondsAgo\":4,\"revision\":\"0a0a0a0\",\"live\":true},"
            + "{\"id\":\"gateway-1\",\"secondsAgo\":2,\"revision\":\"7f3c2a1\",\"version\":\"0.1.0\","
            + "\"mode\":\"gateway\",\"live\":true},"
            + "{\"id\":\"agent-0\",\"secondsAgo\":600,\"revision\":\"7f3c2a1\",\"version\":\"0.0.9\","
            + "\"mode\":\"sidecar\",\"live\":false}]}", "")),
        "status", "-A");

    assertThat(exit).isZero();
    assertThat(calls).containsExactly(list, List.of("get", "--raw", path));
    // VERSIONS: what the live ones run (agent-0 is not live), one too old to say counted as "unreported"
    assertThat(out()).containsPattern("team-a +agents +7f3c2a1 +True \\(Compiled\\) +False \\(SidecarsBehind\\) +3 +2"
            + " +0\\.1\\.0,0\\.2\\.0,unreported\n")
        .contains("team-a/agents  sidecar agent-1  revision 7f3c2a1  version 0.2.0  last seen 3s ago\n")
        .contains("team-a/agents  sidecar agent-2  revision 0a0a0a0  version (not reported)  last seen 4s ago\n")
        .contains("team-a/agents  gateway gateway-1  revision 7f3c2a1  version 0.1.0  last seen 2s ago\n")
        .contains("team-a/agents  sidecar agent-0  revision 7f3c2a1  version 0.0.9  last seen 10m ago  (not live)");
  }

  @Test
  void badUsageExitsTwo() {
    assertThat(run(Map.of(), "explain", "agents")).as("--user is required").isEqualTo(2);
    assertThat(run(Map.of(), "explain", "-n", "x", "agents", "--user", "a", "-o", "yaml")).isEqualTo(2);
  }

  @Test
  void durationsReadLikeKubectlAges() {
    assertThat(Table.duration(0)).isEqualTo("0s");
    assertThat(Table.duration(1)).isEqualTo("1s");
    assertThat(Table.duration(390_000)).isEqualTo("6m30s");
    assertThat(Table.duration(36_120_000)).isEqualTo("10h2m");
    assertThat(Table.duration(-1)).isEqualTo("never");
  }
}
