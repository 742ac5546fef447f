package dev.ratekeeper.e2e.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * helm install of the chart on a real API server: with the default values and with the values the
 * end-to-end runs use, Helm succeeds (the API server validates every object, RBAC included: a Role
 * may only grant what its author holds) and every object the chart renders exists afterwards.
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

  private static void assertInstallsEverything(String name, String namespace, Path values, Map<String, Object> sets) {
    try (ChartRelease release = ChartRelease.install(plane, name, namespace, values, sets)) {
      assertThat(release.release().getStatus()).isEqualTo("deployed");
      List<GenericKubernetesResource> expected = release.expectedObjects();
      assertThat(expected).extracting(GenericKubernetesResource::getKind)
          .contains("Deployment", "StatefulSet", "ServiceAccount", "ClusterRole", "Role", "MutatingWebhookConfiguration");
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
    }
  }
}
