package dev.ratekeeper.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ratekeeper.e2e.cluster.ControlPlane;
import dev.ratekeeper.operator.api.RateLimitPolicy;
import dev.ratekeeper.operator.OperatorConfig;
import dev.ratekeeper.operator.OperatorMain;
import dev.ratekeeper.operator.testing.EmbeddedRedis;
import dev.ratekeeper.operator.webhook.WebhookConfig;
import dev.ratekeeper.operator.webhook.inject.InjectionSettings;
import dev.ratekeeper.policy.api.Condition;
import dev.ratekeeper.policy.compile.PolicyDocument;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfigurationBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/**
 * The whole loop on one machine, on a real Kubernetes API server (the cluster tests' control plane:
 * etcd, kube-apiserver, kube-controller-manager) and a real redis-server. The operator and its
 * webhook run in this JVM with server-side apply; the API server itself calls the webhook over TLS
 * (the Service's endpoint is this machine) when a Deployment's Pod is created by
 * kube-controller-manager, and the stored Pod is what two sidecars are started from, as processes
 * with exactly the args and environment of the injected sidecar container (only their listen ports
 * are moved, through RATEKEEPER_LISTEN / RATEKEEPER_ADMIN_LISTEN, so two can run on one host); the
 * provider is the stub, also a process.
 */
class FullLoopIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  static final String NS = "loop-agents";
  static final String WEBHOOK_NS = "loop-system";
  static final String WEBHOOK_SERVICE = "loop-webhook";
  static final String WEBHOOK_CONFIG = "loop-sidecar-injector";
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: agents, namespace: loop-agents}
      spec:
        identity: {apiKeySecretRef: {name: agent-keys}}
        tiers:
        - name: std
          requests: {perMinute: 1, burst: %d}
        users:
        - {id: bob, tier: std}
        - {id: %s, tier: std}
        upstreams:
        - {name: anthropic, url: "http://127.0.0.1:%d", format: anthropic}
      """;
  static final String BODY = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  static EmbeddedRedis redis;
  static ControlPlane plane;
  static KubernetesClient client;
  static OperatorMain.Running operator;
  static Processes processes = new Processes();
  static int stubPort;
  static final List<int[]> sidecarPorts = new ArrayList<>(); // {proxy, admin}
  static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  @BeforeAll
  static void start() throws Exception {
    redis = new EmbeddedRedis();
    plane = ControlPlane.shared();
    plane.requireControllerManager();
    plane.installCrd();
    plane.namespace(NS);
    plane.namespace(WEBHOOK_NS);
    client = plane.admin();
    // the operator program as main() runs it, webhook enabled, against the real API server
    WebhookConfig webhookConfig = new WebhookConfig(true, new InetSocketAddress("0.0.0.0", 0),
        WEBHOOK_SERVICE, WEBHOOK_NS, "loop-webhook-tls", WEBHOOK_CONFIG, List.of(), WebhookConfig.DEFAULT_CA_VALIDITY,
        WebhookConfig.DEFAULT_CERT_VALIDITY, WebhookConfig.DEFAULT_RENEW_BEFORE, Duration.ofMinutes(1),
        InjectionSettings.defaults(redis.url()));
    // the webhook registration as the chart writes it; the operator publishes its caBundle
    client.admissionRegistration().v1().mutatingWebhookConfigurations().resource(new MutatingWebhookConfigurationBuilder()
        .withNewMetadata().withName(WEBHOOK_CONFIG).endMetadata()
        .addNewWebhook().withName("sidecar-injector.ratekeeper.dev").withAdmissionReviewVersions("v1")
        .withSideEffects("None").withFailurePolicy("Fail").withReinvocationPolicy("IfNeeded")
        .withNewClientConfig().withNewService().withName(WEBHOOK_SERVICE).withNamespace(WEBHOOK_NS)
        .withPath("/mutate").withPort(443).endService().endClientConfig()
        .addNewRule().withOperations("CREATE").withApiGroups("").withApiVersions("v1").withResources("pods")
        .withScope("Namespaced").endRule()
        .withNewObjectSelector().addToMatchLabels("ratekeeper.dev/inject", "true").endObjectSelector()
        .withNewNamespaceSelector().addToMatchLabels("kubernetes.io/metadata.name", NS).endNamespaceSelector()
        .endWebhook().build()).create();
    client.services().inNamespace(WEBHOOK_NS).resource(new ServiceBuilder().withNewMetadata().withName(WEBHOOK_SERVICE)
        .withNamespace(WEBHOOK_NS).endMetadata().withNewSpec().addNewPort().withName("https").withPort(443)
        .withNewTargetPort(9443).endPort().endSpec().build()).create();
    operator = OperatorMain.start(OperatorConfig.parse(new String[] {"--redis", redis.url(),
        "--refresh-interval", "300ms", "--admin-listen", "127.0.0.1:0"}, Map.of()), webhookConfig,
        () -> new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(plane.kubeconfigYaml())).build(),
        System.err);
    assertThat(operator).as("the operator started (see the test output)").isNotNull();
    plane.routeService(WEBHOOK_NS, WEBHOOK_SERVICE, "https", operator.webhook().port());
    await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> client.admissionRegistration().v1()
        .mutatingWebhookConfigurations().withName(WEBHOOK_CONFIG).get().getWebhooks().get(0).getClientConfig()
        .getCaBundle() != null);
    stubPort = processes.startStub("stub");
  }

  @AfterAll
  static void stop() {
    processes.close();
    if (operator != null) {
      operator.close();
    }
    client.admissionRegistration().v1().mutatingWebhookConfigurations().withName(WEBHOOK_CONFIG).delete();
    client.namespaces().withName(NS).delete();
    redis.close();
  }

  /** {@code secondUser} "bob" again is a duplicate user: the API server stores it, the operator refuses it. */
  private static RateLimitPolicy policy(int burst, String secondUser) throws Exception {
    PolicyDocument doc = PolicyDocument.parse(POLICY.formatted(burst, secondUser, stubPort));
    RateLimitPolicy resource = new RateLimitPolicy();
    resource.setMetadata(new ObjectMetaBuilder().withName("agents").withNamespace(NS).build());
    resource.setSpec(doc.spec());
    return resource;
  }

  /** kubectl apply --server-side: the test owns the spec, the operator the status and finalizer. */
  private static void apply(RateLimitPolicy desired) {
    desired.getMetadata().setManagedFields(null);
    client.resources(RateLimitPolicy.class).inNamespace(NS).resource(desired).fieldManager("e2e-test")
        .forceConflicts().serverSideApply();
  }


  private static Condition condition(String type) {
    RateLimitPolicy current = client.resources(RateLimitPolicy.class).inNamespace(NS).withName("agents").get();
    if (current == null || current.getStatus() == null) {
      return null;
    }
    return current.getStatus().conditions.stream().filter(c -> type.equals(c.type)).findFirst().orElse(null);
  }

  private static String statusRevision() {
    return client.resources(RateLimitPolicy.class).inNamespace(NS).withName("agents").get().getStatus().revision;
  }

  private static Secret keys(String aliceKey) {
    return new SecretBuilder().withNewMetadata().withName("agent-keys").withNamespace(NS).endMetadata()
        .addToData("alice", Base64.getEncoder().encodeToString(aliceKey.getBytes(StandardCharsets.UTF_8))).build();
  }

  /** A pod as a Deployment's ReplicaSet creates it: generateName, the opt-in label, the policy annotation. */
  private static Pod agentPod() {
    return new PodBuilder().withNewMetadata().withGenerateName("agent-6f7c9d-").withNamespace(NS)
        .addToLabels("app", "agent").addToLabels("ratekeeper.dev/inject", "true")
        .addToAnnotations("ratekeeper.dev/policy", "agents").endMetadata()
        .withNewSpec().addNewContainer().withName("agent").withImage("python:3.12-slim")
        .withCommand("python", "agent.py").endContainer().endSpec().build();
  }

  /**
   * A Deployment of the agent: kube-controller-manager creates its Pod, the API server sends it to
   * the webhook over TLS and stores what the webhook patched in. Returns the stored Pod.
   */
  private static Pod deployAgent() {
    Pod template = agentPod();
    client.apps().deployments().inNamespace(NS).resource(new DeploymentBuilder().withNewMetadata().withName("agent")
        .withNamespace(NS).endMetadata().withNewSpec().withReplicas(1)
        .withNewSelector().addToMatchLabels("app", "agent").endSelector()
        .withNewTemplate().withNewMetadata().withLabels(template.getMetadata().getLabels())
        .withAnnotations(template.getMetadata().getAnnotations()).endMetadata().withSpec(template.getSpec())
        .endTemplate().endSpec().build()).create();
    await().atMost(ControlPlane.CONTROLLERS).ignoreExceptions().until(() ->
        client.pods().inNamespace(NS).withLabel("app", "agent").list().getItems().size() == 1);
    return client.pods().inNamespace(NS).withLabel("app", "agent").list().getItems().get(0);
  }

  /** The sidecar container's environment with every valueFrom resolved as the kubelet would. */
  private static Map<String, String> resolve(Container sidecar, String podName) {
    Map<String, String> env = new HashMap<>();
    for (EnvVar var : sidecar.getEnv()) {
      if (var.getValue() != null) {
        // the kubelet expands $(NAME) of variables defined before this one
        String value = var.getValue();
        for (Map.Entry<String, String> earlier : env.entrySet()) {
          value = value.replace("$(" + earlier.getKey() + ")", earlier.getValue());
        }
        env.put(var.getName(), value);
      } else if (var.getValueFrom() != null && var.getValueFrom().getFieldRef() != null) {
        String field = var.getValueFrom().getFieldRef().getFieldPath();
        assertThat(field).isIn("metadata.name", "status.podIP");
        env.put(var.getName(), field.equals("metadata.name") ? podName : "127.0.0.1");
      } else if (var.getValueFrom() != null && var.getValueFrom().getSecretKeyRef() != null) {
        var ref = var.getValueFrom().getSecretKeyRef();
        Secret secret = client.secrets().inNamespace(NS).withName(ref.getName()).get();
        if (secret != null) {
          env.put(var.getName(), new String(Base64.getDecoder().decode(secret.getData().get(ref.getKey())),
              StandardCharsets.UTF_8));
        }
      }
    }
    return env;
  }

  private static HttpResponse<String> call(int sidecar, String... headers) throws Exception {
    HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sidecarPorts.get(sidecar)[0]
        + "/anthropic/v1/messages")).timeout(Duration.ofSeconds(10)).header("content-type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(BODY));
    if (headers.length > 0) {
      builder.headers(headers);
    }
    return http.send(builder.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static int admitted(String user, int calls) throws Exception {
    int ok = 0;
    for (int i = 0; i < calls; i++) {
      ok += call(i % 2, "X-Ratekeeper-User", user).statusCode() == 200 ? 1 : 0;
    }
    return ok;
  }

  private static String enforcedRevision(int sidecar) throws Exception {
    String metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sidecarPorts.get(sidecar)[1]
        + "/metrics")).GET().build(), HttpResponse.BodyHandlers.ofString()).body();
    int at = metrics.indexOf("ratekeeper_policy_revision_info{revision=\"");
    return at < 0 ? null : metrics.substring(at + 42, metrics.indexOf('"', at + 42));
  }

  @Test
  void applyInjectEnforceChangeRefuseRotateDelete() throws Exception {
    // apply: the policy and its users' keys
    client.secrets().inNamespace(NS).resource(keys("ak-alice-1")).create();
    apply(policy(3, "carol"));
    await().atMost(Duration.ofSeconds(10)).until(() -> condition("Accepted") != null
        && "True".equals(condition("Accepted").status));
    String first = statusRevision();

    // a Deployment's pod goes through the webhook, called by the API server
    Pod injected = deployAgent();
    assertThat(injected.getMetadata().getAnnotations()).containsKey("ratekeeper.dev/status");
    Container sidecar = injected.getSpec().getInitContainers().stream()
        .filter(c -> c.getName().equals("ratekeeper-sidecar")).findFirst().orElseThrow();
    assertThat(sidecar.getRestartPolicy()).isEqualTo("Always");
    Container app = injected.getSpec().getContainers().get(0);
    assertThat(app.getEnv()).extracting(EnvVar::getName).contains("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL");
    assertThat(app.getEnv()).noneMatch(e -> e.getName().startsWith("RATEKEEPER_"));

    // two replicas: sidecars started with exactly the injected args and environment
    for (int i = 0; i < 2; i++) {
      Map<String, String> env = resolve(sidecar, injected.getMetadata().getName() + "-" + i);
      env.put("RATEKEEPER_LISTEN", "127.0.0.1:0");
      env.put("RATEKEEPER_ADMIN_LISTEN", "127.0.0.1:0");
      List<String> args = new ArrayList<>(List.of("-jar", Processes.classpathOf(Processes.SIDECAR_JAR)));
      args.addAll(sidecar.getArgs());
      Process process = processes.java("sidecar-" + i, env, args);
      Processes.SidecarPorts ports = processes.awaitSidecarPorts("sidecar-" + i, process);
      processes.awaitOk("http://127.0.0.1:" + ports.admin() + "/readyz", "sidecar-" + i, process);
      sidecarPorts.add(new int[] {ports.proxy(), ports.admin()});
    }

    // enforced: one burst of 3 across both replicas, and the status says both run the revision
    assertThat(admitted("u1", 5)).isEqualTo(3);
    await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
      Condition enforced = condition("Enforced");
      assertThat(enforced).isNotNull();
      assertThat(enforced.status).isEqualTo("True");
      assertThat(enforced.message).contains("2/2").contains(first);
    });

    // change: within a second both sidecars enforce the new revision, and its limits apply
    long applied = System.nanoTime();
    apply(policy(10, "carol"));
    await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(5)).until(() -> !first.equals(statusRevision()));
    long accepted = System.nanoTime();
    String second = statusRevision();
    await().atMost(Duration.ofSeconds(1)).pollInterval(Duration.ofMillis(5)).until(() -> second.equals(enforcedRevision(0))
        && second.equals(enforcedRevision(1)));
    // figure for docs/benchmarks.md
    System.out.printf("FIGURE policy-apply-to-enforced-by-2-sidecar-processes ms=%.0f (status shows the revision after %.0f ms)%n",
        (System.nanoTime() - applied) / 1e6, (accepted - applied) / 1e6);
    assertThat(admitted("u1", 9)).isEqualTo(7); // 3 spent of the new 10
    await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
      Condition enforced = condition("Enforced");
      assertThat(enforced.status).isEqualTo("True");
      assertThat(enforced.message).contains("2/2").contains(second);
    });

    // an invalid change is refused and the last good limits stay enforced
    apply(policy(10, "bob"));
    await().atMost(Duration.ofSeconds(10)).until(() -> "False".equals(condition("Accepted").status));
    assertThat(condition("Accepted").message).contains("spec.users[1].id");
    assertThat(statusRevision()).isEqualTo(second);
    assertThat(admitted("u2", 12)).isEqualTo(10);

    // rotate an end user's key: the new one works, the old one no longer does
    assertThat(call(0, "X-Ratekeeper-Api-Key", "ak-alice-1").statusCode()).isEqualTo(200);
    client.secrets().inNamespace(NS).resource(keys("ak-alice-2")).update();
    await().atMost(Duration.ofSeconds(10)).until(() -> call(1, "X-Ratekeeper-Api-Key", "ak-alice-2").statusCode() == 200);
    assertThat(call(0, "X-Ratekeeper-Api-Key", "ak-alice-1").statusCode()).isEqualTo(401);

    // delete: the configuration leaves Redis and the finalizer lets the object go
    client.resources(RateLimitPolicy.class).inNamespace(NS).withName("agents").delete();
    await().atMost(Duration.ofSeconds(10)).until(() ->
        client.resources(RateLimitPolicy.class).inNamespace(NS).withName("agents").get() == null);
    try (Jedis jedis = redis.client()) {
      await().atMost(Duration.ofSeconds(5)).until(() -> jedis.keys("rk:{" + NS + "/agents}:policy:*").isEmpty()
          && jedis.keys("rk:{" + NS + "/agents}:apikeys").isEmpty());
    }
  }
}
