package dev.ratekeeper.e2e.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.ratekeeper.operator.api.RateLimitPolicy;
import dev.ratekeeper.operator.reconcile.RateLimitPolicyReconciler;
import dev.ratekeeper.operator.testing.EmbeddedRedis;
import dev.ratekeeper.policy.api.Condition;
import dev.ratekeeper.policy.compile.PolicyDocument;
import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.policy.keys.RedisKeys;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The chart installed with default values (two operator replicas, leader election, webhook), and two
 * operator processes running as the chart's ServiceAccount with the chart's environment: one leads
 * and keeps leading past its renew deadline, reconciles (status, finalizer, observedGeneration on a
 * real API server); killed, the other takes the Lease within the lease duration and reconciles. The
 * API server calls the survivor's webhook over TLS for Pods that opted in (bare, dry run, and made by
 * kube-controller-manager for a Deployment; and one pointed at a shared gateway instead), and deleting
 * the namespace of a policy completes.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class OperatorOnClusterIT {
  static final String RELEASE_NS = "rk-system";
  static final String AGENTS = "rk-agents";
  /** JOSDK's defaults, which the operator uses: lease 15 s, renew deadline 10 s, retry every 2 s. */
  static final Duration LEASE_DURATION = Duration.ofSeconds(15);
  static final Duration RENEW_DEADLINE = Duration.ofSeconds(10);
  static final Duration CLEANUP_TIMEOUT = Duration.ofSeconds(5);
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: agents, namespace: rk-agents}
      spec:
        tiers:
        - name: std
          requests: {perMinute: %d}
      """;

  static ControlPlane plane;
  static KubernetesClient admin;
  static ChartRelease release;
  static EmbeddedRedis redis;
  static ChartOperator operators;
  static String leaseName;
  static String firstLeader;

  @BeforeAll
  static void install() {
    plane = ControlPlane.shared();
    admin = plane.admin();
    release = ChartRelease.install(plane, "rk", RELEASE_NS, null, Map.of());
    redis = new EmbeddedRedis();
    // a deleted policy waits for an unreachable Redis this long (default 2m) before its finalizer goes
    operators = new ChartOperator(plane, release, redis.url(),
        Map.of("RATEKEEPER_CLEANUP_TIMEOUT", CLEANUP_TIMEOUT.toSeconds() + "s"));
    leaseName = operators.chartEnv("RATEKEEPER_LEASE_NAME");
    assertThat(operators.chartEnv("RATEKEEPER_LEADER_ELECTION")).as("default values: 2 replicas elect a leader")
        .isEqualTo("true");
    plane.namespace(AGENTS);
  }

  @AfterAll
  static void uninstall() {
    if (operators != null) {
      operators.close();
    }
    if (release != null) {
      release.close();
    }
    if (redis != null) {
      redis.close();
    }
  }

  @Test
  @Order(1)
  void oneReplicaLeadsAndKeepsItsLeasePastTheRenewDeadline() {
    operators.start("rk-operator-a");
    operators.start("rk-operator-b");
    await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> holder() != null);
    firstLeader = holder();
    assertThat(firstLeader).isIn("rk-operator-a", "rk-operator-b");
    ZonedDateTime acquired = ZonedDateTime.parse(lease().getSpec().getAcquireTime().toString());

    // the renew deadline passes twice: a leader that cannot renew (no patch on its Lease) exits by then
    await().during(RENEW_DEADLINE.plusSeconds(5)).atMost(RENEW_DEADLINE.plusSeconds(10))
        .until(() -> firstLeader.equals(holder()) && operators.replica(firstLeader).process().isAlive());
    assertThat(ZonedDateTime.parse(lease().getSpec().getRenewTime().toString()))
        .as("the leader renewed its Lease after the renew deadline").isAfter(acquired.plus(RENEW_DEADLINE));
    assertThat(operators.replica("rk-operator-a").process().isAlive()).isTrue();
    assertThat(operators.replica("rk-operator-b").process().isAlive()).isTrue();
  }

  @Test
  @Order(2)
  void theLeaderReconcilesStatusFinalizerAndGeneration() throws Exception {
    admin.resources(RateLimitPolicy.class).inNamespace(AGENTS).resource(policy(10)).create();

    await().atMost(Duration.ofSeconds(30)).ignoreExceptions().untilAsserted(() -> {
      RateLimitPolicy stored = stored();
      assertThat(stored.getMetadata().getFinalizers()).contains(RateLimitPolicyReconciler.FINALIZER);
      assertThat(stored.getStatus().observedGeneration).isEqualTo(1L);
      assertThat(condition(stored, "Accepted").status).isEqualTo("True");
      assertThat(condition(stored, "Accepted").observedGeneration).isEqualTo(1L);
      assertThat(stored.getStatus().revision).isNotBlank();
    });
  }

  @Test
  @Order(3)
  void whenTheLeaderIsKilledTheOtherLeadsWithinTheLeaseDurationAndReconciles() throws Exception {
    String follower = firstLeader.equals("rk-operator-a") ? "rk-operator-b" : "rk-operator-a";
    long killedAt = System.nanoTime();
    operators.kill(firstLeader);

    await().atMost(LEASE_DURATION.plusSeconds(15)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
        .until(() -> follower.equals(holder()));
    Duration takeover = Duration.ofNanos(System.nanoTime() - killedAt);
    System.out.println("lease takeover after the leader's SIGKILL: " + takeover.toMillis() + " ms");
    assertThat(takeover).as("takeover within the lease duration plus two retry periods")
        .isLessThan(LEASE_DURATION.plusSeconds(5));

    RateLimitPolicy changed = stored();
    changed.setSpec(policy(20).getSpec());
    admin.resources(RateLimitPolicy.class).inNamespace(AGENTS).resource(changed).update();
    await().atMost(Duration.ofSeconds(30)).ignoreExceptions().untilAsserted(() -> {
      RateLimitPolicy stored = stored();
      assertThat(stored.getMetadata().getGeneration()).isEqualTo(2L);
      assertThat(stored.getStatus().observedGeneration).isEqualTo(2L);
      assertThat(condition(stored, "Accepted").status).isEqualTo("True");
    });
    assertThat(operators.replica(follower).process().isAlive()).isTrue();
  }

  @Test
  @Order(4)
  void theApiServerCallsTheWebhookOverTlsWithTheCaBundleTheOperatorPublished() {
    String alive = operators.replica("rk-operator-a").process().isAlive() ? "rk-operator-a" : "rk-operator-b";
    MutatingWebhookConfiguration config = admin.admissionRegistration().v1().mutatingWebhookConfigurations()
        .withName("rk-ratekeeper-sidecar-injector").get();
    await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> admin.admissionRegistration().v1()
        .mutatingWebhookConfigurations().withName("rk-ratekeeper-sidecar-injector").get().getWebhooks().get(0)
        .getClientConfig().getCaBundle() != null);
    var service = config.getWebhooks().get(0).getClientConfig().getService();
    plane.routeService(service.getNamespace(), service.getName(), "https", operators.replica(alive).webhookPort());

    // a bare Pod that opted in: stored with the sidecar, as a native sidecar
    Pod bare = admin.pods().inNamespace(AGENTS).resource(agentPod("bare-agent", true)).create();
    assertThat(bare.getSpec().getInitContainers()).extracting(Container::getName).contains("ratekeeper-sidecar");
    assertThat(bare.getMetadata().getAnnotations()).containsKey("ratekeeper.dev/status");
    assertThat(admin.pods().inNamespace(AGENTS).withName("bare-agent").get().getSpec().getInitContainers())
        .extracting(Container::getName).contains("ratekeeper-sidecar");

    // an unlabelled Pod is never sent to the webhook
    Pod plain = admin.pods().inNamespace(AGENTS).resource(agentPod("plain", false)).create();
    assertThat(plain.getSpec().getInitContainers()).isEmpty();
    assertThat(plain.getMetadata().getAnnotations()).doesNotContainKey("ratekeeper.dev/status");

    // a dry run is mutated (the webhook declares no side effects) and nothing is stored
    Pod dry = admin.pods().inNamespace(AGENTS).resource(agentPod("dry-agent", true)).dryRun().create();
    assertThat(dry.getSpec().getInitContainers()).extracting(Container::getName).contains("ratekeeper-sidecar");
    assertThat(admin.pods().inNamespace(AGENTS).withName("dry-agent").get()).isNull();

    // a Pod that asks for the shared gateway is sent too (the objectSelector takes "gateway"): no
    // container, the SDKs pointed at the gateway; with no gateway installed and none named, refused
    Pod viaGateway = agentPod("gateway-agent", true);
    viaGateway.getMetadata().getLabels().put("ratekeeper.dev/inject", "gateway");
    viaGateway.getMetadata().getAnnotations().put("ratekeeper.dev/gateway-url", "http://team-gateway.gw.svc:8787");
    Pod stored = admin.pods().inNamespace(AGENTS).resource(viaGateway).create();
    assertThat(stored.getSpec().getInitContainers()).isEmpty();
    assertThat(stored.getSpec().getContainers()).extracting(Container::getName).containsExactly("agent");
    assertThat(stored.getSpec().getContainers().get(0).getEnv()).extracting(EnvVar::getName, EnvVar::getValue)
        .containsExactly(org.assertj.core.groups.Tuple.tuple("ANTHROPIC_BASE_URL", "http://team-gateway.gw.svc:8787"),
            org.assertj.core.groups.Tuple.tuple("OPENAI_BASE_URL", "http://team-gateway.gw.svc:8787/v1"));
    viaGateway.getMetadata().setName("gateway-agent-nowhere");
    viaGateway.getMetadata().getAnnotations().remove("ratekeeper.dev/gateway-url");
    assertThat(org.junit.jupiter.api.Assertions.assertThrows(io.fabric8.kubernetes.client.KubernetesClientException.class,
        () -> admin.pods().inNamespace(AGENTS).resource(viaGateway).create()).getMessage())
        .contains("no shared gateway is installed");
  }

  /**
   * Another mutating webhook, called after ours, changes the Pod: the API server calls ours again
   * (reinvocationPolicy IfNeeded) and injection, being idempotent, leaves one sidecar.
   */
  @Test
  @Order(5)
  void aPodChangedByALaterWebhookIsReinvokedAndKeepsOneSidecar() throws Exception {
    String alive = operators.replica("rk-operator-a").process().isAlive() ? "rk-operator-a" : "rk-operator-b";
    try (OtherWebhook other = new OtherWebhook(plane, RELEASE_NS)) {
      double before = admissions(alive);

      Pod pod = admin.pods().inNamespace(AGENTS).resource(agentPod("reinvoked-agent", true)).create();

      assertThat(pod.getMetadata().getLabels()).containsEntry(OtherWebhook.LABEL, "true");
      assertThat(pod.getSpec().getInitContainers()).extracting(Container::getName)
          .containsOnlyOnce("ratekeeper-sidecar");
      assertThat(other.calls()).isEqualTo(1);
      assertThat(admissions(alive) - before).as("our webhook called, then reinvoked").isEqualTo(2);
    }
  }

  /** Admission calls the replica's webhook answered so far, every outcome. */
  private static double admissions(String replica) throws Exception {
    String metrics = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
        java.net.URI.create("http://127.0.0.1:" + operators.replica(replica).adminPort() + "/metrics")).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString()).body();
    return metrics.lines().filter(l -> l.startsWith("ratekeeper_webhook_admissions_total"))
        .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
  }

  @Test
  @Order(6)
  void aDeploymentsPodIsInjectedWhenTheControllerManagerCreatesIt() {
    plane.requireControllerManager();
    Pod template = agentPod("unused", true);
    admin.apps().deployments().inNamespace(AGENTS).resource(new DeploymentBuilder().withNewMetadata()
        .withName("agent").withNamespace(AGENTS).endMetadata().withNewSpec().withReplicas(1)
        .withNewSelector().addToMatchLabels("app", "agent").endSelector()
        .withNewTemplate().withNewMetadata().withLabels(template.getMetadata().getLabels())
        .withAnnotations(template.getMetadata().getAnnotations()).endMetadata()
        .withSpec(template.getSpec()).endTemplate().endSpec().build()).create();

    await().atMost(ControlPlane.CONTROLLERS).ignoreExceptions().untilAsserted(() -> {
      List<Pod> pods = admin.pods().inNamespace(AGENTS).withLabel("app", "agent").list().getItems().stream()
          .filter(p -> p.getMetadata().getOwnerReferences().stream().anyMatch(o -> "ReplicaSet".equals(o.getKind())))
          .toList();
      assertThat(pods).hasSize(1);
      assertThat(pods.get(0).getSpec().getInitContainers()).extracting(Container::getName)
          .contains("ratekeeper-sidecar");
      assertThat(pods.get(0).getSpec().getContainers().get(0).getEnv()).extracting(EnvVar::getName)
          .contains("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL");
    });
  }

  @Test
  @Order(7)
  void deletingTheNamespaceWithAPolicyCompletes() {
    plane.requireControllerManager();
    String current = new RedisKeys(new PolicyId(AGENTS, "agents")).currentRevision();
    try (var jedis = redis.client()) {
      assertThat(jedis.exists(current)).as("the policy is in Redis before").isTrue();
    }
    admin.namespaces().withName(AGENTS).delete();

    await().atMost(ControlPlane.CONTROLLERS).pollInterval(Duration.ofMillis(500))
        .until(() -> admin.namespaces().withName(AGENTS).get() == null);
    try (var jedis = redis.client()) {
      assertThat(jedis.exists(current)).as("the finalizer removed the policy's configuration").isFalse();
    }
  }

  /**
   * Redis is down when a namespace with a policy is deleted: the finalizer holds the policy while it
   * retries, for the cleanup timeout after the deletion, then lets it go, and the namespace is gone.
   */
  @Test
  @Order(8)
  void deletingANamespaceWhileRedisIsDownCompletesAfterTheCleanupTimeout() throws Exception {
    plane.requireControllerManager();
    String ns = "rk-agents-outage";
    plane.namespace(ns);
    RateLimitPolicy policy = policy(10);
    policy.getMetadata().setNamespace(ns);
    admin.resources(RateLimitPolicy.class).inNamespace(ns).resource(policy).create();
    await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> "True".equals(condition(
        admin.resources(RateLimitPolicy.class).inNamespace(ns).withName("agents").get(), "Accepted").status));
    redis.stop();
    try {
      // Redis does not decide readiness: the webhook stays in its Service
      String alive = operators.replica("rk-operator-a").process().isAlive() ? "rk-operator-a" : "rk-operator-b";
      java.net.http.HttpResponse<String> ready = java.net.http.HttpClient.newHttpClient().send(
          java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:"
              + operators.replica(alive).adminPort() + "/readyz")).build(),
          java.net.http.HttpResponse.BodyHandlers.ofString());
      assertThat(ready.statusCode()).isEqualTo(200);
      long deletedAt = System.nanoTime();
      admin.namespaces().withName(ns).delete();

      // the namespace controller deletes what the namespace holds; the finalizer keeps the policy
      await().atMost(ControlPlane.CONTROLLERS).until(() -> admin.resources(RateLimitPolicy.class).inNamespace(ns)
          .withName("agents").get().getMetadata().getDeletionTimestamp() != null);
      assertThat(admin.resources(RateLimitPolicy.class).inNamespace(ns).withName("agents").get())
          .as("held by the finalizer while Redis is down").isNotNull();
      await().atMost(ControlPlane.CONTROLLERS).pollInterval(Duration.ofMillis(500))
          .until(() -> admin.namespaces().withName(ns).get() == null);
      Duration took = Duration.ofNanos(System.nanoTime() - deletedAt);
      System.out.println("namespace deletion with Redis down: " + took.toMillis() + " ms (cleanup timeout "
          + CLEANUP_TIMEOUT.toSeconds() + " s)");
      assertThat(took).isGreaterThanOrEqualTo(CLEANUP_TIMEOUT);
    } finally {
      redis.start();
    }
  }

  private static Pod agentPod(String name, boolean optIn) {
    PodBuilder pod = new PodBuilder().withNewMetadata().withName(name).withNamespace(AGENTS)
        .addToLabels("app", "agent").addToAnnotations("ratekeeper.dev/policy", "agents").endMetadata()
        .withNewSpec().addNewContainer().withName("agent").withImage("python:3.12-slim")
        .withCommand("python", "agent.py").endContainer().endSpec();
    if (optIn) {
      pod.editMetadata().addToLabels("ratekeeper.dev/inject", "true").endMetadata();
    }
    return pod.build();
  }

  private static Lease lease() {
    return admin.leases().inNamespace(RELEASE_NS).withName(leaseName).get();
  }

  private static String holder() {
    Lease lease = lease();
    return lease == null ? null : lease.getSpec().getHolderIdentity();
  }

  private static RateLimitPolicy stored() {
    return admin.resources(RateLimitPolicy.class).inNamespace(AGENTS).withName("agents").get();
  }

  private static Condition condition(RateLimitPolicy policy, String type) {
    return policy.getStatus().conditions.stream().filter(c -> type.equals(c.type)).findFirst().orElseThrow();
  }

  private static RateLimitPolicy policy(int perMinute) throws Exception {
    PolicyDocument doc = PolicyDocument.parse(POLICY.formatted(perMinute));
    RateLimitPolicy resource = new RateLimitPolicy();
    resource.setMetadata(new ObjectMetaBuilder().withName("agents").withNamespace(AGENTS).build());
    resource.setSpec(doc.spec());
    return resource;
  }
}
