package dev.ratekeeper.e2e.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionBuilder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * helm install of the chart on a real API server: with the default values and with the values the
 * end-to-end runs use, Helm succeeds (the API server validates every object, RBAC included: a Role
 * may only grant what its author holds) and every object the chart renders exists afterwards; the
 * Prometheus Operator's kinds only where the API server serves them.
 */
class ChartIT {
  static ControlPlane plane;

  @BeforeAll
  static void controlPlane() {
    plane = ControlPlane.shared();
  }

  @Test
  void defaultValuesInstallEveryObject() {
    assertInstallsEverything("chart-default", "chart-default", null, Map.of());
  }

  @Test
  void endToEndValuesInstallEveryObject() {
    plane.namespace("agents");
    assertInstallsEverything("chart-e2e", "chart-e2e", ChartRelease.E2E_VALUES, Map.of());
  }

  /** The shared gateway's objects (Deployment, Services, HPA, PDB, NetworkPolicies) are accepted as rendered. */
  @Test
  void gatewayValuesInstallEveryObject() {
    Map<String, Object> gateway = Map.of("gateway.enabled", true, "gateway.policy", "agents/agents",
        "gateway.providerKeys[0].upstream", "anthropic", "gateway.providerKeys[0].secretName", "anthropic-key",
        "gateway.providerKeys[0].secretKey", "api-key", "networkPolicy.enabled", true);
    List<String> created = assertInstallsEverything("chart-gw", "chart-gw", null, gateway);
    assertThat(created).contains("Deployment/chart-gw-ratekeeper-gateway", "Service/chart-gw-ratekeeper-gateway",
        "Service/chart-gw-ratekeeper-gateway-admin", "HorizontalPodAutoscaler/chart-gw-ratekeeper-gateway",
        "PodDisruptionBudget/chart-gw-ratekeeper-gateway", "NetworkPolicy/chart-gw-ratekeeper-gateway",
        "NetworkPolicy/chart-gw-ratekeeper-redis-from-gateway");
  }

  /**
   * The gateway on an external Redis Cluster over TLS (the helm-tests case gateway-redis-cluster: a
   * private CA in ConfigMaps, a client certificate Secret mounted into operator and gateway, per-tenant
   * users) is accepted as rendered.
   */
  @Test
  void gatewayOnAClusterOverTlsInstallsEveryObject() {
    plane.namespace("agents-a");
    plane.namespace("agents-b");
    Path values = ControlPlane.ROOT.resolve("helm-tests/src/test/resources/cases/gateway-redis-cluster.yaml");
    List<String> created = assertInstallsEverything("chart-gw-tls", "chart-gw-tls", values, Map.of(), false);
    assertThat(created).contains("Deployment/chart-gw-tls-ratekeeper-gateway",
        "ConfigMap/chart-gw-tls-ratekeeper-redis-ca").noneMatch(o -> o.startsWith("StatefulSet/"));
  }

  /**
   * Monitoring turned on in a cluster without the Prometheus Operator installs (its kinds are left
   * out); once the API server serves their CRDs, the same values create them.
   */
  @Test
  void monitoringObjectsAreCreatedOnlyWhereTheirCrdsExist() {
    Map<String, Object> monitoring = Map.of("monitoring.serviceMonitor.enabled", true,
        "monitoring.podMonitor.enabled", true, "monitoring.prometheusRule.enabled", true);
    try (ChartRelease release = ChartRelease.install(plane, "chart-mon", "chart-mon", null, monitoring)) {
      assertThat(release.release().getStatus()).isEqualTo("deployed");
      for (String kind : List.of("ServiceMonitor", "PodMonitor", "PrometheusRule")) {
        assertThat(plane.admin().apiextensions().v1().customResourceDefinitions()
            .withName(kind.toLowerCase() + "s.monitoring.coreos.com").get()).isNull();
      }
    }
    List<String> kinds = List.of("ServiceMonitor", "PodMonitor", "PrometheusRule");
    for (String kind : kinds) {
      plane.admin().apiextensions().v1().customResourceDefinitions().resource(monitoringCrd(kind)).create();
    }
    try (ChartRelease release = ChartRelease.install(plane, "chart-mon", "chart-mon", null, monitoring)) {
      for (String kind : kinds) {
        assertThat(plane.admin().genericKubernetesResources("monitoring.coreos.com/v1", kind).inNamespace("chart-mon")
            .list().getItems()).as(kind).hasSize(1);
      }
    } finally {
      for (String kind : kinds) {
        plane.admin().apiextensions().v1().customResourceDefinitions()
            .withName(kind.toLowerCase() + "s.monitoring.coreos.com").delete();
      }
    }
  }

  /** A stand-in for the Prometheus Operator's CRD of {@code kind}: same group, version and names, any content. */
  private static CustomResourceDefinition monitoringCrd(String kind) {
    String plural = kind.toLowerCase() + "s";
    CustomResourceDefinition crd = new CustomResourceDefinitionBuilder().withNewMetadata()
        .withName(plural + ".monitoring.coreos.com").endMetadata().withNewSpec().withGroup("monitoring.coreos.com")
        .withScope("Namespaced").withNewNames().withKind(kind).withPlural(plural).withSingular(kind.toLowerCase())
        .endNames().addNewVersion().withName("v1").withServed(true).withStorage(true).withNewSchema()
        .withNewOpenAPIV3Schema().withType("object").withXKubernetesPreserveUnknownFields(true).endOpenAPIV3Schema()
        .endSchema().endVersion().endSpec().build();
    return crd;
  }

  /** Installs, checks every rendered object exists, uninstalls; what it rendered, as kind/name. */
  private static List<String> assertInstallsEverything(String name, String namespace, Path values,
      Map<String, Object> sets) {
    return assertInstallsEverything(name, namespace, values, sets, true);
  }

  private static List<String> assertInstallsEverything(String name, String namespace, Path values,
      Map<String, Object> sets, boolean builtinRedis) {
    try (ChartRelease release = ChartRelease.install(plane, name, namespace, values, sets)) {
      assertThat(release.release().getStatus()).isEqualTo("deployed");
      List<GenericKubernetesResource> expected = release.expectedObjects();
      assertThat(expected).extracting(GenericKubernetesResource::getKind)
          .contains("Deployment", "ServiceAccount", "ClusterRole", "Role", "MutatingWebhookConfiguration");
      if (builtinRedis) {
        assertThat(expected).extracting(GenericKubernetesResource::getKind).contains("StatefulSet");
      }
      List<String> missing = new ArrayList<>();
      for (GenericKubernetesResource object : expected) {
        String objectNamespace = object.getMetadata().getNamespace();
        var kind = plane.admin().genericKubernetesResources(object.getApiVersion(), object.getKind());
        GenericKubernetesResource found = objectNamespace == null
            ? kind.withName(object.getMetadata().getName()).get()
            : kind.inNamespace(objectNamespace).withName(object.getMetadata().getName()).get();
        if (found == null) {
          missing.add(object.getKind() + " " + objectNamespace + "/" + object.getMetadata().getName());
        }
      }
      assertThat(missing).as("objects the chart renders but the cluster lacks after helm install").isEmpty();
      assertThat(plane.admin().apiextensions().v1().customResourceDefinitions().withName(ControlPlane.CRD_NAME).get())
          .as("the CRD from the chart's crds/").isNotNull();
      return expected.stream().map(o -> o.getKind() + "/" + o.getMetadata().getName()).toList();
    }
  }
}
