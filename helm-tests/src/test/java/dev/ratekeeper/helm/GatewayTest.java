package dev.ratekeeper.helm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** gateway.enabled: the shared gateway's Deployment, Services, autoscaler, disruption budget, monitoring. */
class GatewayTest {
  static final String NAME = Chart.RELEASE + "-gateway";

  @Test
  void nothingOfTheGatewayByDefault() {
    Rendered r = Chart.render("default");
    assertThat(r.names()).noneMatch(n -> n.contains("gateway"));
  }

  @Test
  void theGatewayRunsTheSidecarImageInGatewayModeOnItsPolicy() {
    Rendered r = Chart.render("gateway");
    Deployment d = r.one(Deployment.class, NAME);
    PodSpec pod = d.getSpec().getTemplate().getSpec();
    Container c = pod.getContainers().get(0);
    assertThat(c.getImage()).isEqualTo(r.envValue("RATEKEEPER_SIDECAR_IMAGE"));
    Map<String, EnvVar> env = env(c);
    assertThat(env.get("RATEKEEPER_MODE").getValue()).isEqualTo("gateway");
    assertThat(env.get("RATEKEEPER_POLICY").getValue()).isEqualTo("agents/agents");
    assertThat(env.get("RATEKEEPER_REDIS_URL").getValue()).isEqualTo(r.envValue("RATEKEEPER_REDIS_URL"));
    assertThat(env.get("RATEKEEPER_REDIS_PASSWORD").getValueFrom().getSecretKeyRef().getName())
        .isEqualTo(Chart.RELEASE + "-redis");
    // on every interface: clients are other pods
    assertThat(env.get("RATEKEEPER_LISTEN").getValue()).isEqualTo("0.0.0.0:8787");
    assertThat(env.get("RATEKEEPER_ADMIN_LISTEN").getValue()).isEqualTo("0.0.0.0:9787");
    assertThat(env.get("RATEKEEPER_MAX_BODY").getValue()).isEqualTo("16MiB");
    assertThat(env).doesNotContainKeys("RATEKEEPER_BODY_TIMEOUT", "RATEKEEPER_IDLE_TIMEOUT");
    // provider keys only from Secrets, named as the sidecar reads them (dashes as underscores)
    assertThat(env.get("RATEKEEPER_UPSTREAM_KEY_ANTHROPIC").getValueFrom().getSecretKeyRef().getName())
        .isEqualTo("anthropic-key");
    assertThat(env.get("RATEKEEPER_UPSTREAM_KEY_MY_OPENAI").getValueFrom().getSecretKeyRef().getKey())
        .isEqualTo("api-key");
    assertThat(env.values()).filteredOn(e -> e.getName().contains("KEY") || e.getName().contains("PASSWORD"))
        .allSatisfy(e -> assertThat(e.getValue()).as(e.getName()).isNull());
    assertThat(c.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/readyz");
    assertThat(c.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/healthz");
    assertThat(c.getStartupProbe().getHttpGet().getPort().getStrVal()).isEqualTo("admin");
    assertThat(c.getResources().getRequests()).containsKeys("cpu", "memory"); // the HPA needs a CPU request
    assertThat(c.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
    assertThat(pod.getAutomountServiceAccountToken()).isFalse();
  }

  /** Every variable the chart gives the gateway is one the sidecar program reads (or the JVM, or a provider key). */
  @Test
  void everyVariableTheGatewayGetsIsOneTheSidecarReads() throws Exception {
    java.util.Set<String> known = new java.util.TreeSet<>(Repo.all(Repo.SIDECAR_CONFIG, "\"(RATEKEEPER_[A-Z0-9_]+|POD_NAME)\""));
    java.nio.file.Path cli = Repo.ROOT.resolve("cli/src/main/java");
    if (java.nio.file.Files.isDirectory(cli)) { // the shared flag library, where the common names live
      try (var files = java.nio.file.Files.walk(cli)) {
        for (java.nio.file.Path f : files.filter(f -> f.toString().endsWith(".java")).toList()) {
          known.addAll(Repo.all(f, "\"(RATEKEEPER_[A-Z0-9_]+|POD_NAME)\""));
        }
      }
    }
    assertThat(known).contains("RATEKEEPER_MODE", "RATEKEEPER_POLICY", "RATEKEEPER_LISTEN", "RATEKEEPER_REDIS_URL");
    Container c = Chart.render("gateway").one(Deployment.class, NAME).getSpec().getTemplate().getSpec().getContainers()
        .get(0);
    for (String name : env(c).keySet()) {
      if (!name.equals("JAVA_TOOL_OPTIONS") && !name.startsWith("RATEKEEPER_UPSTREAM_KEY_")) {
        assertThat(known).as("the sidecar reads %s", name).contains(name);
      }
    }
    // RATEKEEPER_MODE=gateway is one of the sidecar's modes (read without regard to case)
    assertThat(env(c).get("RATEKEEPER_MODE").getValue()).isEqualTo("gateway");
    assertThat(Repo.read(Repo.SIDECAR_CONFIG)).containsPattern("(?s)enum Mode \\{.*?\\bGATEWAY\\b");
  }

  /** The webhook never injects a sidecar into the gateway: its pods lack the opt-in label and live in the release namespace, which the webhook excludes. */
  @Test
  void theWebhookNeverSeesTheGatewaysPods() {
    Rendered r = Chart.render("gateway");
    Deployment d = r.one(Deployment.class, NAME);
    assertThat(d.getSpec().getTemplate().getMetadata().getLabels()).doesNotContainKey("ratekeeper.dev/inject")
        .containsEntry("app.kubernetes.io/component", "gateway");
    assertThat(d.getMetadata().getNamespace()).isEqualTo(Chart.NAMESPACE);
    String webhook = r.text.substring(r.text.indexOf("kind: MutatingWebhookConfiguration"));
    assertThat(webhook).contains("operator: NotIn").contains("- " + Chart.NAMESPACE);
  }

  /** The webhook points pods labelled ratekeeper.dev/inject: gateway at the gateway's Service. */
  @Test
  void theWebhookKnowsTheGatewaysUrl() {
    Rendered r = Chart.render("gateway");
    Service proxy = r.one(Service.class, NAME);
    assertThat(r.envValue("RATEKEEPER_GATEWAY_URL")).isEqualTo("http://" + NAME + "." + Chart.NAMESPACE + ".svc:"
        + proxy.getSpec().getPorts().get(0).getPort());
    assertThat(Chart.render("default").operatorEnv()).doesNotContainKey("RATEKEEPER_GATEWAY_URL");
  }

  @Test
  void clientsCallOneServiceAndMetricsAreScrapedFromAnother() {
    Rendered r = Chart.render("gateway");
    Service proxy = r.one(Service.class, NAME);
    assertThat(proxy.getSpec().getPorts()).singleElement().satisfies(p -> {
      assertThat(p.getPort()).isEqualTo(8787);
      assertThat(p.getTargetPort().getStrVal()).isEqualTo("http");
    });
    Service admin = r.one(Service.class, NAME + "-admin");
    assertThat(admin.getSpec().getPorts()).singleElement().satisfies(p -> assertThat(p.getName()).isEqualTo("admin"));
    Deployment d = r.one(Deployment.class, NAME);
    assertThat(proxy.getSpec().getSelector()).isEqualTo(d.getSpec().getSelector().getMatchLabels())
        .isEqualTo(admin.getSpec().getSelector());
    GenericKubernetesResource monitor = r.generic("ServiceMonitor").stream()
        .filter(m -> m.getMetadata().getName().equals(NAME)).findFirst().orElseThrow();
    @SuppressWarnings("unchecked")
    Map<String, Object> selector = (Map<String, Object>) ((Map<String, Object>) monitor.get("spec")).get("selector");
    assertThat(selector.get("matchLabels")).isEqualTo(admin.getMetadata().getLabels().entrySet().stream()
        .filter(e -> List.of("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component")
            .contains(e.getKey())).collect(java.util.stream.Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue)));
  }

  @Test
  void autoscaledOnCpuWithADisruptionBudget() {
    Rendered r = Chart.render("gateway");
    Deployment d = r.one(Deployment.class, NAME);
    assertThat(d.getSpec().getReplicas()).as("the autoscaler owns replicas").isNull();
    HorizontalPodAutoscaler hpa = r.one(HorizontalPodAutoscaler.class, NAME);
    assertThat(hpa.getSpec().getScaleTargetRef().getName()).isEqualTo(NAME);
    assertThat(hpa.getSpec().getMinReplicas()).isEqualTo(2);
    assertThat(hpa.getSpec().getMaxReplicas()).isEqualTo(10);
    assertThat(hpa.getSpec().getMetrics()).singleElement().satisfies(m -> {
      assertThat(m.getResource().getName()).isEqualTo("cpu");
      assertThat(m.getResource().getTarget().getAverageUtilization()).isEqualTo(70);
    });
    PodDisruptionBudget pdb = r.one(PodDisruptionBudget.class, NAME);
    assertThat(pdb.getSpec().getSelector().getMatchLabels()).isEqualTo(d.getSpec().getSelector().getMatchLabels());
  }

  @Test
  void fixedReplicasWithoutTheAutoscalerAndNoBudgetOverOneReplica() {
    Map<String, Object> sets = new LinkedHashMap<>(gatewaySets());
    sets.put("gateway.autoscaling.enabled", false);
    sets.put("gateway.replicas", 3);
    Rendered r = Chart.render(sets);
    assertThat(r.one(Deployment.class, NAME).getSpec().getReplicas()).isEqualTo(3);
    assertThat(r.all(HorizontalPodAutoscaler.class)).isEmpty();
    assertThat(r.has("PodDisruptionBudget", NAME)).isTrue();
    sets.put("gateway.replicas", 1);
    assertThat(Chart.render(sets).has("PodDisruptionBudget", NAME)).as("a PDB over one replica blocks drains").isFalse();
  }

  @Test
  void theGatewayMayCallRedisAndBeCalledWhereNetworkPoliciesApply() {
    Rendered r = Chart.render("gateway");
    NetworkPolicy redis = r.one(NetworkPolicy.class, Chart.RELEASE + "-redis-from-gateway");
    assertThat(redis.getSpec().getPodSelector().getMatchLabels()).containsEntry("app.kubernetes.io/component", "redis");
    assertThat(redis.getSpec().getIngress().get(0).getFrom().get(0).getPodSelector().getMatchLabels())
        .containsEntry("app.kubernetes.io/component", "gateway");
    NetworkPolicy gateway = r.one(NetworkPolicy.class, NAME);
    assertThat(gateway.getSpec().getPolicyTypes()).containsExactly("Ingress");
    assertThat(gateway.getSpec().getIngress()).extracting(rule -> rule.getPorts().get(0).getPort().getStrVal())
        .containsExactly("http", "admin");
  }

  @Test
  void refusedWithoutAPolicyOrProviderKeys() {
    IllegalStateException noPolicy = assertThrows(IllegalStateException.class,
        () -> Chart.render(Map.of("gateway.enabled", true)));
    assertThat(noPolicy.getMessage()).contains("don't meet the specifications of the schema").contains("/gateway");
    Map<String, Object> badPolicy = new LinkedHashMap<>(gatewaySets());
    badPolicy.put("gateway.policy", "agents");
    assertThat(assertThrows(IllegalStateException.class, () -> Chart.render(badPolicy)).getMessage())
        .contains("/gateway/policy");
    Map<String, Object> inverted = new LinkedHashMap<>(gatewaySets());
    inverted.put("gateway.autoscaling.minReplicas", 5);
    inverted.put("gateway.autoscaling.maxReplicas", 3);
    assertThat(assertThrows(IllegalStateException.class, () -> Chart.render(inverted)).getMessage())
        .contains("gateway.autoscaling.minReplicas: must not exceed maxReplicas");
  }

  /**
   * The gateway connects to Redis as the operator does, whatever the topology, TLS and login: the same
   * RATEKEEPER_REDIS_* variables (values and Secret references) and the same CA and client-certificate
   * mounts. Runs every Redis case of the chart with a gateway added.
   */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"default", "external-redis", "external-redis-cluster", "external-redis-sentinel",
      "gateway-redis-cluster", "gateway-redis-sentinel"})
  void theGatewayHasTheOperatorsRedisSettings(String caseName) {
    Rendered r = Chart.render(Cases.valuesFile(caseName), gatewaySets());
    Container gateway = gateway(r);
    Map<String, EnvVar> operatorRedis = redisEnv(r.operatorContainer());
    assertThat(operatorRedis).containsKey("RATEKEEPER_REDIS_URL");
    assertThat(redisEnv(gateway)).isEqualTo(operatorRedis);
    assertThat(redisMounts(gateway)).isEqualTo(redisMounts(r.operatorContainer()));
    assertThat(redisVolumes(r.one(Deployment.class, NAME))).isEqualTo(redisVolumes(r.operator()));
  }

  @Test
  void onAClusterOverTlsTheGatewayMountsTheCaAndClientCertificateAndLogsInAsTheOperatorsUser() {
    Rendered r = Chart.render("gateway-redis-cluster");
    Deployment d = r.one(Deployment.class, NAME);
    Container c = gateway(r);
    Map<String, EnvVar> env = env(c);
    assertThat(env.get("RATEKEEPER_REDIS_URL").getValue())
        .isEqualTo("rediss://10.0.4.10:6379,rediss://10.0.4.11:6379,rediss://10.0.4.12:6379");
    assertThat(env.get("RATEKEEPER_REDIS_MODE").getValue()).isEqualTo("cluster");
    assertThat(env).doesNotContainKey("RATEKEEPER_REDIS_MASTER_NAME");
    // per-tenant users are on, but the tenant Secrets live in the agent namespaces: the operator's login
    assertThat(env.get("RATEKEEPER_REDIS_USER").getValue()).isEqualTo("ratekeeper-operator");
    var password = env.get("RATEKEEPER_REDIS_PASSWORD").getValueFrom().getSecretKeyRef();
    assertThat(password.getName()).isEqualTo("ratekeeper-redis-auth");
    assertThat(password.getKey()).isEqualTo("redis-password");
    assertThat(env.get("RATEKEEPER_REDIS_VERIFY_HOSTNAME").getValue()).isEqualTo("false");
    // each file the gateway is told of lies under a read-only mount of a volume of its pod
    Map<String, io.fabric8.kubernetes.api.model.Volume> volumes = new LinkedHashMap<>();
    d.getSpec().getTemplate().getSpec().getVolumes().forEach(v -> volumes.put(v.getName(), v));
    for (String file : List.of("RATEKEEPER_REDIS_CA_FILE", "RATEKEEPER_REDIS_CERT_FILE", "RATEKEEPER_REDIS_KEY_FILE")) {
      String path = env.get(file).getValue();
      assertThat(c.getVolumeMounts()).as(file).filteredOn(m -> path.startsWith(m.getMountPath() + "/"))
          .singleElement().satisfies(m -> {
            assertThat(m.getReadOnly()).isTrue();
            assertThat(volumes).containsKey(m.getName());
          });
    }
    assertThat(env.get("RATEKEEPER_REDIS_CA_FILE").getValue()).isEqualTo("/etc/ratekeeper/redis-ca/ca.crt");
    // the CA ConfigMap of the release namespace (the gateway's), and the operator's client certificate
    String caMap = volumes.get("redis-ca").getConfigMap().getName();
    assertThat(r.all(io.fabric8.kubernetes.api.model.ConfigMap.class)).anySatisfy(cm -> {
      assertThat(cm.getMetadata().getName()).isEqualTo(caMap);
      assertThat(cm.getMetadata().getNamespace()).isEqualTo(d.getMetadata().getNamespace());
      assertThat(cm.getData().get("ca.crt")).startsWith("-----BEGIN CERTIFICATE-----");
    });
    assertThat(volumes.get("redis-client").getSecret().getSecretName()).isEqualTo("ratekeeper-redis-client");
    // the tenant Secret is the sidecars' (in their namespaces), never the gateway's
    assertThat(env.values()).noneMatch(e -> e.getValueFrom() != null && e.getValueFrom().getSecretKeyRef() != null
        && e.getValueFrom().getSecretKeyRef().getName().equals("ratekeeper-redis-tenant"));
  }

  @Test
  void behindSentinelTheGatewayAsksTheSentinelsForTheMaster() {
    Rendered r = Chart.render("gateway-redis-sentinel");
    Container c = gateway(r);
    Map<String, EnvVar> env = env(c);
    assertThat(env.get("RATEKEEPER_REDIS_MODE").getValue()).isEqualTo("sentinel");
    assertThat(env.get("RATEKEEPER_REDIS_MASTER_NAME").getValue()).isEqualTo("ratekeeper");
    assertThat(env.get("RATEKEEPER_REDIS_URL").getValue().split(",")).hasSize(3)
        .allSatisfy(u -> assertThat(u).startsWith("redis://sentinel-").endsWith(":26379"));
    assertThat(env.get("RATEKEEPER_REDIS_PASSWORD").getValueFrom().getSecretKeyRef().getName())
        .isEqualTo(Chart.RELEASE + "-redis");
    assertThat(env).doesNotContainKeys("RATEKEEPER_REDIS_USER", "RATEKEEPER_REDIS_CA_FILE",
        "RATEKEEPER_REDIS_CERT_FILE", "RATEKEEPER_REDIS_VERIFY_HOSTNAME");
    assertThat(c.getVolumeMounts()).extracting(m -> m.getName()).containsExactly("tmp");
  }

  private static Container gateway(Rendered r) {
    return r.one(Deployment.class, NAME).getSpec().getTemplate().getSpec().getContainers().get(0);
  }

  private static Map<String, EnvVar> redisEnv(Container c) {
    Map<String, EnvVar> redis = new LinkedHashMap<>(env(c));
    redis.keySet().removeIf(name -> !name.startsWith("RATEKEEPER_REDIS_"));
    return redis;
  }

  private static List<io.fabric8.kubernetes.api.model.VolumeMount> redisMounts(Container c) {
    return c.getVolumeMounts().stream().filter(m -> m.getName().startsWith("redis-")).toList();
  }

  private static List<io.fabric8.kubernetes.api.model.Volume> redisVolumes(Deployment d) {
    return d.getSpec().getTemplate().getSpec().getVolumes().stream().filter(v -> v.getName().startsWith("redis-"))
        .toList();
  }

  static Map<String, Object> gatewaySets() {
    return Map.of("gateway.enabled", true, "gateway.policy", "agents/agents",
        "gateway.providerKeys[0].upstream", "anthropic", "gateway.providerKeys[0].secretName", "anthropic-key",
        "gateway.providerKeys[0].secretKey", "api-key");
  }

  private static Map<String, EnvVar> env(Container c) {
    Map<String, EnvVar> env = new LinkedHashMap<>();
    for (EnvVar e : c.getEnv()) {
      assertThat(env.put(e.getName(), e)).as("env %s set twice", e.getName()).isNull();
    }
    return env;
  }
}
