package dev.ratekeeper.e2e.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.InstallCommand;
import com.marcnuri.helm.Release;
import com.marcnuri.helm.TemplateCommand;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The chart installed into the control plane by real Helm (helm-java, with the admin kubeconfig), and
 * the objects that install should have created (helm template of the same release, hooks left out).
 */
public final class ChartRelease implements AutoCloseable {
  public static final Path CHART = ControlPlane.ROOT.resolve("helm/ratekeeper");
  /** The values the end-to-end runs install with (e2e/kind/run.sh). */
  public static final Path E2E_VALUES = ControlPlane.ROOT.resolve("e2e/kind/values.yaml");
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  private final ControlPlane plane;
  private final String name;
  private final String namespace;
  private final Path valuesFile;
  private final Map<String, Object> sets;
  private final Release release;

  private ChartRelease(ControlPlane plane, String name, String namespace, Path valuesFile, Map<String, Object> sets) {
    this.plane = plane;
    this.name = name;
    this.namespace = namespace;
    this.valuesFile = valuesFile;
    this.sets = sets;
    InstallCommand install = new Helm(CHART).install().withName(name).withNamespace(namespace).createNamespace()
        .withKubeConfig(plane.kubeconfigFile());
    if (valuesFile != null) {
      install.withValuesFile(valuesFile);
    }
    sets.forEach(install::set);
    this.release = install.call();
  }

  /** helm install NAME CHART --namespace NAMESPACE --create-namespace [-f valuesFile] [--set k=v ...] */
  public static ChartRelease install(ControlPlane plane, String name, String namespace, Path valuesFile,
      Map<String, Object> sets) {
    return new ChartRelease(plane, name, namespace, valuesFile, sets);
  }

  public Release release() {
    return release;
  }

  public String namespace() {
    return namespace;
  }

  /** Every object helm template renders for this release, hooks (helm test Pods) left out. */
  public List<GenericKubernetesResource> expectedObjects() {
    TemplateCommand template = new Helm(CHART).template().withName(name).withNamespace(namespace)
        .withKubeVersion(ControlPlane.VERSION);
    if (valuesFile != null) {
      template.withValuesFile(valuesFile);
    }
    sets.forEach(template::set);
    List<GenericKubernetesResource> objects = new ArrayList<>();
    try {
      for (JsonNode doc : YAML.readValues(YAML.createParser(template.call()), JsonNode.class).readAll()) {
        if (doc == null || !doc.isObject() || !doc.has("kind")) {
          continue;
        }
        if (doc.path("metadata").path("annotations").has("helm.sh/hook")) {
          continue;
        }
        GenericKubernetesResource object = plane.admin().getKubernetesSerialization().convertValue(doc,
            GenericKubernetesResource.class);
        objects.add(object);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return objects;
  }

  /** The installed operator Deployment (named as the chart names it). */
  public Deployment operatorDeployment() {
    return plane.admin().apps().deployments().inNamespace(namespace).list().getItems().stream()
        .filter(d -> "operator".equals(d.getMetadata().getLabels().get("app.kubernetes.io/component")))
        .findFirst().orElseThrow(() -> new IllegalStateException("no operator Deployment in " + namespace));
  }

  @Override
  public void close() {
    Helm.uninstall(name).withNamespace(namespace).withKubeConfig(plane.kubeconfigFile()).ignoreNotFound().call();
  }
}
