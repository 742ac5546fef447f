package dev.ratekeeper.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Secret;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every combination renders; every document is a Kubernetes object Fabric8 reads without unknown
 * fields, carries the chart's labels and (when namespaced) a namespace; the output equals its golden
 * file (refresh: -Dratekeeper.refreshGolden=true).
 */
class ChartRenderTest {
  static final Path GOLDEN = Repo.ROOT.resolve("helm-tests/src/test/resources/golden");
  static final boolean REFRESH = Boolean.getBoolean("ratekeeper.refreshGolden");
  static final Set<String> CLUSTER_SCOPED = Set.of("ClusterRole", "ClusterRoleBinding",
      "MutatingWebhookConfiguration", "APIService");
  static final Set<String> GENERIC_API_VERSIONS = Set.of("monitoring.coreos.com/v1", "cert-manager.io/v1");

  @ParameterizedTest(name = "{0}")
  @MethodSource("dev.ratekeeper.helm.Cases#all")
  void everyDocumentIsAKubernetesObject(String caseName) {
    Rendered rendered = Chart.render(caseName);
    assertThat(rendered.objects).isNotEmpty();
    for (HasMetadata o : rendered.objects) {
      String id = o.getKind() + "/" + o.getMetadata().getName();
      assertThat(Rendered.unknownFields(o)).as("fields of %s Fabric8 does not know", id).isEmpty();
      if (o instanceof io.fabric8.kubernetes.api.model.GenericKubernetesResource g) {
        assertThat(GENERIC_API_VERSIONS).as("apiVersion of %s", id).contains(o.getApiVersion());
        assertThat(g.getAdditionalProperties()).as("%s has a spec", id).containsKey("spec");
      }
      assertThat(o.getMetadata().getName()).as("name of %s", id)
          .matches("[a-z0-9]([-a-z0-9.]*[a-z0-9])?").hasSizeLessThanOrEqualTo(63);
      assertThat(o.getMetadata().getLabels()).as("labels of %s", id)
          .containsEntry("app.kubernetes.io/instance", Chart.RELEASE)
          .containsEntry("app.kubernetes.io/managed-by", "Helm")
          .containsKey("helm.sh/chart");
      if (CLUSTER_SCOPED.contains(o.getKind())) {
        assertThat(o.getMetadata().getNamespace()).as("namespace of cluster-scoped %s", id).isNull();
      } else {
        assertThat(o.getMetadata().getNamespace()).as("namespace of %s", id).isNotBlank();
      }
    }
    assertThat(rendered.objects.stream().map(o -> o.getKind() + "/" + o.getMetadata().getNamespace() + "/"
        + o.getMetadata().getName()).toList()).as("no object twice").doesNotHaveDuplicates();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("dev.ratekeeper.helm.Cases#all")
  void matchesGoldenFile(String caseName) throws IOException {
    Rendered rendered = Chart.render(caseName);
    String actual = normalize(rendered);
    Path golden = GOLDEN.resolve(caseName + ".yaml");
    if (REFRESH) {
      Files.createDirectories(GOLDEN);
      Files.writeString(golden, actual, StandardCharsets.UTF_8);
    }
    assertThat(golden).as("golden file; create it with -Dratekeeper.refreshGolden=true").exists();
    assertThat(actual).as("rendering of %s differs from %s; if the change is meant, refresh with"
        + " -Dratekeeper.refreshGolden=true and review the diff", caseName, Repo.ROOT.relativize(golden))
        .isEqualTo(Files.readString(golden, StandardCharsets.UTF_8));
  }

  /** The generated Redis password differs on every render: it is replaced by a placeholder. */
  static String normalize(Rendered rendered) {
    String text = rendered.text.strip() + "\n";
    List<Secret> generated = rendered.all(Secret.class).stream()
        .filter(s -> s.getMetadata().getName().equals(Chart.RELEASE + "-redis")).toList();
    for (Secret secret : generated) {
      String encoded = secret.getData().get("password");
      text = text.replace(encoded, Base64.getEncoder().encodeToString(
          "generated-password".getBytes(StandardCharsets.UTF_8)));
    }
    return text;
  }
}
