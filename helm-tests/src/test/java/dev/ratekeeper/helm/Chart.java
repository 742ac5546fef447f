package dev.ratekeeper.helm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import com.marcnuri.helm.TemplateCommand;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/** The chart under helm/ratekeeper, rendered and linted by real Helm (helm-java). */
final class Chart {
  static final String RELEASE = "ratekeeper";
  static final String NAMESPACE = "ratekeeper-system";
  /** helm-java renders for Kubernetes 1.20 unless told; the chart needs 1.29 (native sidecars). */
  static final String KUBE_VERSION = "1.31.0";
  static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  static final ObjectMapper JSON = new ObjectMapper();

  private Chart() {}

  /** Renders with the values of a case (src/test/resources/cases/NAME.yaml). */
  static Rendered render(String caseName) {
    return render(Cases.valuesFile(caseName), Map.of());
  }

  /** Renders with default values plus {@code --set} pairs. */
  static Rendered render(Map<String, Object> sets) {
    return render(null, sets);
  }

  static Rendered render(Path valuesFile, Map<String, Object> sets) {
    return new Rendered(renderText(Repo.CHART, valuesFile, sets));
  }

  /** helm template; throws IllegalStateException with Helm's message when it fails. */
  static String renderText(Path chartDir, Path valuesFile, Map<String, Object> sets) {
    TemplateCommand template = new Helm(chartDir).template()
        .withName(RELEASE).withNamespace(NAMESPACE).withKubeVersion(KUBE_VERSION);
    if (valuesFile != null) {
      template.withValuesFile(valuesFile);
    }
    sets.forEach(template::set);
    return template.call();
  }

  /**
   * helm lint --strict of the chart with a case's values: helm-java's lint takes no values files,
   * so a copy of the chart gets the case's values merged into its values.yaml.
   */
  static LintResult lint(String caseName) {
    Path copy = copyChart(values -> {
      JsonNode overrides = readYaml(Cases.valuesFile(caseName));
      merge((ObjectNode) values, overrides);
      return values;
    }, Map.of());
    try {
      return new Helm(copy).lint().strict().call();
    } finally {
      deleteTree(copy.getParent());
    }
  }

  /**
   * A copy of the chart in a temporary directory, its values.yaml passed through {@code values}
   * and the named templates replaced. Delete its parent when done.
   */
  static Path copyChart(UnaryOperator<JsonNode> values, Map<String, String> templateReplacements) {
    try {
      Path parent = Files.createTempDirectory("ratekeeper-chart");
      Path copy = parent.resolve("ratekeeper");
      try (Stream<Path> files = Files.walk(Repo.CHART)) {
        for (Path file : (Iterable<Path>) files::iterator) {
          Path target = copy.resolve(Repo.CHART.relativize(file).toString());
          if (Files.isDirectory(file)) {
            Files.createDirectories(target);
          } else {
            Files.copy(file, target);
          }
        }
      }
      Path valuesYaml = copy.resolve("values.yaml");
      YAML.writeValue(valuesYaml.toFile(), values.apply(readYaml(valuesYaml)));
      for (Map.Entry<String, String> e : templateReplacements.entrySet()) {
        Files.writeString(copy.resolve(e.getKey()), e.getValue());
      }
      return copy;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static JsonNode readYaml(Path file) {
    try {
      JsonNode node = YAML.readTree(file.toFile());
      return node == null || node.isMissingNode() ? YAML.createObjectNode() : node;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Deep merge as Helm does: maps merge key by key, anything else is replaced. */
  static void merge(ObjectNode target, JsonNode overrides) {
    for (Iterator<Map.Entry<String, JsonNode>> it = overrides.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      JsonNode existing = target.get(e.getKey());
      if (existing instanceof ObjectNode o && e.getValue().isObject()) {
        merge(o, e.getValue());
      } else {
        target.set(e.getKey(), e.getValue());
      }
    }
  }

  static void deleteTree(Path dir) {
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted((a, b) -> b.getNameCount() - a.getNameCount()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
