package dev.ratekeeper.e2e.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ratekeeper.e2e.Processes;
import dev.ratekeeper.kubectl.KubectlRatekeeper;
import dev.ratekeeper.operator.api.RateLimitPolicy;
import dev.ratekeeper.operator.testing.EmbeddedRedis;
import dev.ratekeeper.policy.compile.PolicyDocument;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code kubectl ratekeeper} end to end: the plugin runs the real kubectl, which goes to the real
 * kube-apiserver, which authenticates the caller (a ServiceAccount token) and forwards the request
 * over its front-proxy certificate to the operator's query API, registered as an APIService by the
 * chart (query.enabled). The operator, a process running as the chart's ServiceAccount with the
 * chart's environment, checks the caller's RBAC with a SubjectAccessReview and answers from Redis state that
 * real admissions left: a real sidecar process, enforcing the policy the operator compiled, served
 * calls to the stub provider and throttled one.
 */
class KubectlPluginIT {
  static final String NS = "plugin-agents";
  static final String SYSTEM = "plugin-system";
  static final String API_SERVICE = "v1alpha1.query.ratekeeper.dev";
  static final ResourceDefinitionContext API_SERVICES = new ResourceDefinitionContext.Builder()
      .withGroup("apiregistration.k8s.io").withVersion("v1").withKind("APIService").withPlural("apiservices")
      .withNamespaced(false).build();
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: agents, namespace: plugin-agents}
      spec:
        tiers:
        - name: free
          requests: {perMinute: 1, burst: 3}
          tokens: {perDay: 100000}
          budget: {usd: "0.01", period: Monthly}
        - name: pro
          requests: {perMinute: 600}
          tokens: {perDay: 500000}
        users:
        - {id: bob, tier: pro}
        models:
        - name: claude-haiku-*
          requests: {perMinute: 1, burst: 100}
          pricing: {inputPerMillion: "1.00", outputPerMillion: "5.00"}
        global:
          budget: {usd: "50.00", period: Monthly}
        defaultTier: free
        budgets: {warnAtPercent: 1}
        upstreams:
        - {name: anthropic, url: "http://127.0.0.1:%d", format: anthropic}
      """;
  static final String BODY = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  static final ObjectMapper JSON = new ObjectMapper();
  static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  static EmbeddedRedis redis;
  static ControlPlane plane;
  static KubernetesClient client;
  static ChartRelease release;
  static ChartOperator operators;
  static int queryPort;
  static final Processes processes = new Processes();
  static int proxyPort;
  static int sidecarAdminPort;
  static final List<Integer> aliceStatuses = new ArrayList<>();
  static String aliceLimitedBy;

  @BeforeAll
  static void start() throws Exception {
    redis = new EmbeddedRedis();
    plane = ControlPlane.shared();
    plane.installCrd();
    plane.namespace(NS);
    client = plane.admin();
    // the chart with the query API on: its APIService, Service and RBAC, applied to the real API server; the
    // operator runs as the chart's ServiceAccount with the chart's environment (ChartOperator), so the chart's
    // RBAC is what lets it read the front-proxy CA and ask SubjectAccessReviews
    release = ChartRelease.install(plane, "rkq", SYSTEM, null, Map.of("query.enabled", true, "webhook.enabled", false));
    operators = new ChartOperator(plane, release, redis.url(), Map.of("RATEKEEPER_REFRESH_INTERVAL", "300ms"));
    assertThat(operators.chartEnv("RATEKEEPER_QUERY_LISTEN")).isEqualTo("0.0.0.0:9444");
    ChartOperator.Replica replica = operators.start("rkq-operator-0");
    queryPort = replica.queryPort();
    GenericKubernetesResource apiService = client.genericKubernetesResources(API_SERVICES).withName(API_SERVICE).get();
    String service = JSON.valueToTree(apiService.getAdditionalProperties().get("spec")).path("service").path("name")
        .asText();
    plane.routeService(SYSTEM, service, "https", queryPort);
    await().atMost(Duration.ofSeconds(60)).ignoreExceptions().until(() -> available(
        client.genericKubernetesResources(API_SERVICES).withName(API_SERVICE).get()));

    // who may look: a viewer with get on the namespace's policies, a stranger with nothing
    for (String account : List.of("viewer", "stranger")) {
      client.serviceAccounts().inNamespace(NS).resource(new ServiceAccountBuilder().withNewMetadata()
          .withName(account).withNamespace(NS).endMetadata().build()).createOr(existing -> existing.update());
    }
    client.rbac().roles().inNamespace(NS).resource(new RoleBuilder().withNewMetadata().withName("policy-viewer")
        .withNamespace(NS).endMetadata().addNewRule().withApiGroups("ratekeeper.dev")
        .withResources("ratelimitpolicies").withVerbs("get", "list").endRule().build()).createOr(e -> e.update());
    client.rbac().roleBindings().inNamespace(NS).resource(new RoleBindingBuilder().withNewMetadata()
        .withName("policy-viewer").withNamespace(NS).endMetadata().withNewRoleRef()
        .withApiGroup("rbac.authorization.k8s.io")
        .withKind("Role").withName("policy-viewer").endRoleRef().addNewSubject().withKind("ServiceAccount")
        .withName("viewer").withNamespace(NS).endSubject().build()).createOr(e -> e.update());

    // the provider, the policy, and a sidecar process enforcing what the operator compiled into Redis
    int stubPort = processes.startStub("plugin-stub");
    RateLimitPolicy policy = new RateLimitPolicy();
    policy.setMetadata(new ObjectMetaBuilder().withName("agents").withNamespace(NS).build());
    policy.setSpec(PolicyDocument.parse(POLICY.formatted(stubPort)).spec());
    client.resources(RateLimitPolicy.class).inNamespace(NS).resource(policy).create();
    await().atMost(Duration.ofSeconds(60)).ignoreExceptions().until(() -> client.resources(RateLimitPolicy.class)
        .inNamespace(NS).withName("agents").get().getStatus().revision != null);
    Process sidecar = processes.java("plugin-sidecar", Map.of(), List.of("-jar",
        Processes.classpathOf(Processes.SIDECAR_JAR), "--policy", NS + "/agents", "--redis", redis.url(),
        "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--sidecar-id", "agent-7d4b9-x2x5q"));
    Processes.SidecarPorts ports = processes.awaitSidecarPorts("plugin-sidecar", sidecar);
    proxyPort = ports.proxy();
    sidecarAdminPort = ports.admin();
    processes.awaitOk("http://127.0.0.1:" + sidecarAdminPort + "/readyz", "plugin-sidecar", sidecar);

    // alice (free: 3 at once) makes four calls: three pass, the fourth is throttled; bob (pro) makes two
    for (int i = 0; i < 4; i++) {
      HttpResponse<String> response = call("alice");
      aliceStatuses.add(response.statusCode());
      response.headers().firstValue("x-ratekeeper-limited-by").ifPresent(v -> aliceLimitedBy = v);
    }
    call("bob");
    call("bob");
  }

  @AfterAll
  static void stop() {
    processes.close();
    if (operators != null) {
      operators.close();
    }
    if (release != null) {
      release.close();
    }
    if (client != null) {
      client.namespaces().withName(NS).delete();
    }
    if (redis != null) {
      redis.close();
    }
  }

  @Test
  void explainShowsEveryLimitOfTheUserAndWhatBlocksNow() throws Exception {
    assertThat(aliceStatuses).as("the sidecar admitted three and throttled the fourth")
        .containsExactly(200, 200, 200, 429);
    assertThat(aliceLimitedBy).isEqualTo("tier.requests.perMinute");

    Plugin run = plugin("viewer", "explain", "-n", NS, "agents", "--user", "alice", "-o", "json");
    assertThat(run.exit()).as(run.err()).isZero();
    JsonNode e = JSON.readTree(run.out());
    assertThat(e.path("tier").asText()).isEqualTo("free");
    assertThat(e.path("tierSource").asText()).isEqualTo("defaultTier");
    assertThat(texts(e.path("blockedBy"))).containsExactly("tier.requests.perMinute");
    assertThat(texts(e.findValues("dimension"))).containsExactly("tier.requests.perMinute", "tier.tokens.perDay",
        "budget", "global.budget", "model.requests.perMinute");

    JsonNode requests = limit(e, "tier.requests.perMinute");
    assertThat(requests.path("limit").asLong()).isEqualTo(3);
    assertThat(requests.path("perMinute").asLong()).isEqualTo(1);
    assertThat(requests.path("used").asLong()).isEqualTo(3);
    assertThat(requests.path("remaining").asLong()).isZero();
    assertThat(requests.path("blocking").asBoolean()).isTrue();
    // one request refills in 60 s at 1/min; some of that has passed since the calls
    assertThat(requests.path("waitMs").asLong()).isBetween(1L, 60_000L);
    assertThat(requests.path("resetMs").asLong()).isBetween(120_001L, 180_000L);

    JsonNode model = limit(e, "model.requests.perMinute");
    assertThat(model.path("scope").asText()).isEqualTo("model claude-haiku-*");
    // refilling one a minute, the bucket still holds all five calls the set-up made seconds ago
    assertThat(model.path("used").asLong()).as("alice's three and bob's two calls share the model's bucket")
        .isEqualTo(5);
    assertThat(model.path("limit").asLong()).isEqualTo(100);
    assertThat(model.path("blocking").asBoolean()).isFalse();

    // the budget is what the three admitted calls cost, as reconciled from the provider's usage
    JsonNode top = JSON.readTree(plugin("viewer", "top", "-n", NS, "agents", "-o", "json").out());
    String aliceSpend = null;
    for (JsonNode user : top.path("users")) {
      if ("alice".equals(user.path("user").asText())) {
        aliceSpend = user.path("spendUsd").asText();
      }
    }
    assertThat(aliceSpend).isNotNull();
    assertThat(new java.math.BigDecimal(aliceSpend)).isPositive();
    JsonNode budget = limit(e, "budget");
    assertThat(budget.path("limit").asText()).isEqualTo("0.01");
    assertThat(new java.math.BigDecimal(budget.path("used").asText())).isEqualByComparingTo(aliceSpend);
    assertThat(budget.path("period").asText()).isEqualTo("month");
    assertThat(limit(e, "tier.tokens.perDay").path("used").asLong()).isEqualTo(tokensOf(top, "alice"));

    // the same figures the sidecar gives alice herself (GET /ratekeeper/v1/limits, the same script in peek mode)
    JsonNode own = JSON.readTree(HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxyPort
        + "/ratekeeper/v1/limits")).header("X-Ratekeeper-User", "alice").GET().build(),
        HttpResponse.BodyHandlers.ofString()).body());
    for (JsonNode l : own.path("limits")) {
      if (l.path("dimension").asText().equals("budget")) {
        assertThat(l.path("remaining").asText()).isEqualTo(budget.path("remaining").asText());
      }
      if (l.path("dimension").asText().equals("tier.requests.perMinute")) {
        assertThat(l.path("remaining").asLong()).isEqualTo(requests.path("remaining").asLong());
      }
    }

    Plugin table = plugin("viewer", "explain", "-n", NS, "agents", "--user", "alice");
    java.nio.file.Files.writeString(ControlPlane.LOGS.resolve("kubectl-ratekeeper-explain.txt"), table.out());
    assertThat(table.out()).contains("user alice, tier free (from defaultTier)")
        .contains("Blocked now by: tier.requests.perMinute")
        .containsPattern("tier\\.requests\\.perMinute +user +3 req burst, 1/min +3 +0 +full in \\d+m?\\d*s? +YES");
    assertThat(table.out()).doesNotContainIgnoringCase("api-key").doesNotContain("apikeys");
  }

  @Test
  void bobInAnotherTierIsNotBlocked() throws Exception {
    JsonNode e = JSON.readTree(plugin("viewer", "explain", "-n", NS, "agents", "--user", "bob", "-o", "json").out());
    assertThat(e.path("tier").asText()).isEqualTo("pro");
    assertThat(e.path("tierSource").asText()).isEqualTo("users[]");
    assertThat(e.path("blockedBy")).isEmpty();
    assertThat(limit(e, "tier.requests.perMinute").path("limit").asLong()).isEqualTo(600);
    assertThat(limit(e, "tier.requests.perMinute").path("perMinute").asLong()).isEqualTo(600);
    assertThat(texts(e.findValues("dimension"))).as("pro has no budget of its own").doesNotContain("budget");
    JsonNode top = JSON.readTree(plugin("viewer", "top", "-n", NS, "agents", "-o", "json").out());
    assertThat(limit(e, "tier.tokens.perDay").path("used").asLong()).isPositive().isEqualTo(tokensOf(top, "bob"));
  }

  @Test
  void topShowsSpendAndTheHeaviestUsers() throws Exception {
    JsonNode top = JSON.readTree(plugin("viewer", "top", "-n", NS, "agents", "-o", "json").out());
    assertThat(top.path("requests").asLong()).isEqualTo(5);
    assertThat(top.path("throttled").asLong()).isEqualTo(1);
    assertThat(texts(top.findValues("user"))).containsExactlyInAnyOrder("alice", "bob");
    String topTable = plugin("viewer", "top", "-n", NS, "agents").out();
    java.nio.file.Files.writeString(ControlPlane.LOGS.resolve("kubectl-ratekeeper-top.txt"), topTable);
    assertThat(topTable).contains("5 requests admitted, 1 throttled")
        .containsPattern("alice +free +\\$");
  }

  @Test
  void statusShowsTheRevisionAndTheSidecarEnforcingItWithItsVersion() throws Exception {
    String revision = client.resources(RateLimitPolicy.class).inNamespace(NS).withName("agents").get()
        .getStatus().revision;
    // the sidecar jar's own build version, from its heartbeat (not "unknown": the jar was built by Maven)
    String version = System.getProperty("ratekeeper.version");
    assertThat(version).isNotBlank();
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      Plugin run = plugin("viewer", "status", "-n", NS);
      assertThat(run.exit()).as(run.err()).isZero();
      assertThat(run.out()).containsPattern(NS + " +agents +" + revision + " +True \\(Compiled\\) +True \\(\\w+\\)"
              + " +1 +1 +" + java.util.regex.Pattern.quote(version) + "\n")
          .contains(NS + "/agents  sidecar agent-7d4b9-x2x5q  revision " + revision + "  version " + version + "  ");
    });
    java.nio.file.Files.writeString(ControlPlane.LOGS.resolve("kubectl-ratekeeper-status.txt"),
        plugin("viewer", "status", "-n", NS).out());
  }

  @Test
  void aBudgetCrossingWarnAtPercentIsOneEventOnThePolicy() {
    // alice's three calls cost at least 1 % of her $0.01 tier budget; the operator refreshes every 300 ms
    await().atMost(Duration.ofSeconds(30)).until(() -> budgetEvents().size() == 1);
    // ten more refreshes, each of which sees the same crossing, add none
    await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(5)).until(() -> budgetEvents().size() == 1);
    List<io.fabric8.kubernetes.api.model.Event> events = budgetEvents();
    assertThat(events).hasSize(1);
    assertThat(events.get(0).getType()).isEqualTo("Warning");
    assertThat(events.get(0).getMessage()).startsWith("user \"alice\" (tier free) has spent $")
        .contains("of $0.01").contains("past budgets.warnAtPercent (1%)");
    assertThat(events.get(0).getInvolvedObject().getKind()).isEqualTo("RateLimitPolicy");
  }

  static List<io.fabric8.kubernetes.api.model.Event> budgetEvents() {
    return client.v1().events().inNamespace(NS).list().getItems().stream()
        .filter(e -> "agents".equals(e.getInvolvedObject().getName()) && "BudgetWarning".equals(e.getReason()))
        .toList();
  }

  @Test
  void kubectlRunsTheInstalledPluginFromPath() throws Exception {
    // installed as docs/kubectl-plugin.md says: the launcher script and the jar side by side on PATH
    Path bin = java.nio.file.Files.createTempDirectory("kubectl-plugins");
    java.nio.file.Files.copy(ControlPlane.ROOT.resolve("kubectl-plugin/bin/kubectl-ratekeeper"),
        bin.resolve("kubectl-ratekeeper"));
    java.nio.file.Files.copy(ControlPlane.ROOT.resolve("kubectl-plugin/target/kubectl-ratekeeper.jar"),
        bin.resolve("kubectl-ratekeeper.jar"));
    bin.resolve("kubectl-ratekeeper").toFile().setExecutable(true);
    ProcessBuilder builder = new ProcessBuilder(plane.kubectl().toString(), "ratekeeper", "top", "-n", NS, "agents",
        "--kubeconfig", plane.kubeconfigAs(NS, "viewer").toString()).redirectErrorStream(true);
    String java = ProcessHandle.current().info().command().orElse("java");
    builder.environment().put("PATH", bin + ":" + plane.kubectl().getParent() + ":" + System.getenv("PATH"));
    builder.environment().put("JAVA", java);
    Process process = builder.start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(process.waitFor()).as(output).isZero();
    assertThat(output).contains("5 requests admitted, 1 throttled").containsPattern("alice +free +\\$");
  }

  @Test
  void badQuestionsGetAClearStatusAndNoAnswer() {
    Plugin longUser = plugin("viewer", "explain", "-n", NS, "agents", "--user", "u".repeat(300));
    assertThat(longUser.exit()).isEqualTo(1);
    assertThat(longUser.err()).contains("BadRequest").contains("longer than 256 characters");
    Plugin noPolicy = plugin("viewer", "explain", "-n", NS, "nothing", "--user", "alice");
    assertThat(noPolicy.exit()).isEqualTo(1);
    assertThat(noPolicy.err()).contains("NotFound").contains("policy plugin-agents/nothing has no compiled revision");
    Plugin noTier = plugin("viewer", "explain", "-n", NS, "agents", "--user", "alice", "--tier", "gold");
    assertThat(noTier.err()).contains("has no tier \"gold\"");
  }

  @Test
  void aCallerWithoutRightsOnThePolicyIsRefused() {
    Plugin run = plugin("stranger", "explain", "-n", NS, "agents", "--user", "alice");
    assertThat(run.exit()).isEqualTo(1);
    assertThat(run.err()).contains("Forbidden").contains("cannot get ratelimitpolicies in the namespace");
    assertThat(run.out()).isEmpty();
    assertThat(plugin("stranger", "top", "-n", NS, "agents").exit()).isEqualTo(1);
  }

  @Test
  void onlyTheApiServersFrontProxyMayNameACaller() throws Exception {
    // straight to the operator, claiming to be an admin, without the front-proxy client certificate
    SSLContext trustAll = SSLContext.getInstance("TLS");
    trustAll.init(null, new TrustManager[] {new X509TrustManager() {
      public void checkClientTrusted(X509Certificate[] chain, String authType) {}

      public void checkServerTrusted(X509Certificate[] chain, String authType) {}

      public X509Certificate[] getAcceptedIssuers() {
        return new X509Certificate[0];
      }
    }}, new SecureRandom());
    javax.net.ssl.HttpsURLConnection connection = (javax.net.ssl.HttpsURLConnection) URI.create("https://127.0.0.1:"
        + queryPort + "/apis/query.ratekeeper.dev/v1alpha1/namespaces/" + NS
        + "/ratelimitpolicies/agents/explain?user=alice").toURL().openConnection();
    connection.setSSLSocketFactory(trustAll.getSocketFactory());
    connection.setHostnameVerifier((host, session) -> true);
    connection.setRequestProperty("X-Remote-User", "system:admin");
    connection.setRequestProperty("X-Remote-Group", "system:masters");
    int code = connection.getResponseCode();
    String body = new String(connection.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(code).isEqualTo(401);
    assertThat(body).contains("only the Kubernetes API server").doesNotContain("tier.requests");
  }

  record Plugin(int exit, String out, String err) {}

  static Plugin plugin(String account, String... args) {
    Path kubeconfig = plane.kubeconfigAs(NS, account);
    List<String> all = new ArrayList<>(List.of("--kubeconfig", kubeconfig.toString()));
    all.addAll(List.of(args));
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int exit = KubectlRatekeeper.run(all.toArray(String[]::new), Map.of("KUBECTL", plane.kubectl().toString()),
        new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Plugin(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  static HttpResponse<String> call(String user) throws Exception {
    return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxyPort + "/anthropic/v1/messages"))
        .timeout(Duration.ofSeconds(10)).header("content-type", "application/json").header("X-Ratekeeper-User", user)
        .POST(HttpRequest.BodyPublishers.ofString(BODY)).build(), HttpResponse.BodyHandlers.ofString());
  }

  static boolean available(GenericKubernetesResource apiService) {
    for (JsonNode condition : JSON.valueToTree(apiService.getAdditionalProperties().get("status")).path("conditions")) {
      if ("Available".equals(condition.path("type").asText())) {
        return "True".equals(condition.path("status").asText());
      }
    }
    return false;
  }

  static JsonNode limit(JsonNode explanation, String dimension) {
    for (JsonNode l : explanation.path("limits")) {
      if (l.path("dimension").asText().equals(dimension)) {
        return l;
      }
    }
    throw new AssertionError("no limit " + dimension + " in " + explanation.toPrettyString());
  }

  static long tokensOf(JsonNode top, String user) {
    for (JsonNode u : top.path("users")) {
      if (user.equals(u.path("user").asText())) {
        return u.path("tokens").asLong();
      }
    }
    throw new AssertionError("no " + user + " in " + top);
  }

  static List<String> texts(Iterable<JsonNode> nodes) {
    List<String> texts = new ArrayList<>();
    nodes.forEach(n -> texts.add(n.asText()));
    return texts;
  }
}
