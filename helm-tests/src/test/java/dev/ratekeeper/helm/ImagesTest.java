package dev.ratekeeper.helm;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * images/*.Dockerfile copy the jars the modules' shade plugin builds and run them as uid 65532;
 * the chart and docs/images.md name the same images.
 */
class ImagesTest {

  @ParameterizedTest
  @ValueSource(strings = {"operator", "sidecar"})
  void dockerfileRunsTheModulesFatJarAsNonRoot(String module) throws IOException {
    String dockerfile = Repo.read("images/" + module + ".Dockerfile");
    String finalName = Repo.one(Repo.ROOT.resolve(module + "/pom.xml"), "<finalName>([^<]+)</finalName>");
    String jar = module + "/target/" + finalName + ".jar";

    Matcher copy = Pattern.compile("(?m)^COPY\\s+(\\S+)\\s+(\\S+)\\s*$").matcher(dockerfile);
    assertThat(copy.find()).as("a COPY line").isTrue();
    assertThat(copy.group(1)).as("COPY source: the shade plugin's finalName").isEqualTo(jar);
    String inImage = copy.group(2);

    List<String> entrypoint = entrypoint(dockerfile);
    assertThat(entrypoint).first().isEqualTo("java");
    assertThat(entrypoint).containsSequence("-jar", inImage).contains("-XX:+ExitOnOutOfMemoryError");
    assertThat(dockerfile).containsPattern("(?m)^USER 65532(:65532)?$");
    assertThat(Repo.read("images/" + module + ".Dockerfile.dockerignore")).contains("!" + jar);

    Path built = Repo.ROOT.resolve(jar);
    if (Files.exists(built)) { // after `package`: the jar the image copies runs the module's main class
      // the shade plugin's Main-Class (a module may run other main classes at build time)
      String mainClass = Repo.one(Repo.ROOT.resolve(module + "/pom.xml"),
          "ManifestResourceTransformer\">\\s*<mainClass>([^<]+)</mainClass>");
      try (JarFile jf = new JarFile(built.toFile())) {
        assertThat(jf.getManifest().getMainAttributes().getValue("Main-Class")).isEqualTo(mainClass);
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"operator", "sidecar"})
  void imageJvmSettingsCanBeReplacedByThePod(String module) {
    String dockerfile = Repo.read("images/" + module + ".Dockerfile");
    // tunables live in JAVA_TOOL_OPTIONS, which a pod's env replaces; flags after "java" would win over it
    assertThat(entrypoint(dockerfile)).noneMatch(a -> a.startsWith("-XX:MaxRAM") || a.startsWith("-XX:+Use")
        || a.startsWith("-Xss") || a.startsWith("-Xm"));
    assertThat(dockerfile).contains("ENV JAVA_TOOL_OPTIONS=");
  }

  @org.junit.jupiter.api.Test
  void sidecarImageDefaultsMatchWhatTheWebhookInjects() {
    String env = Repo.one(Repo.ROOT.resolve("images/sidecar.Dockerfile"), "ENV JAVA_TOOL_OPTIONS=\"([^\"]*)\"");
    assertThat(env).isEqualTo(Repo.constant(Repo.INJECTION_SETTINGS, "DEFAULT_JAVA_OPTIONS"));
  }

  @org.junit.jupiter.api.Test
  void chartAndDocsNameTheSameImages() {
    Rendered r = Chart.render("default");
    String operatorImage = r.operatorContainer().getImage();
    String sidecarImage = r.envValue("RATEKEEPER_SIDECAR_IMAGE");
    String docs = Repo.read("docs/images.md");
    assertThat(docs).contains("-t " + operatorImage + " ").contains("-t " + sidecarImage + " ")
        .contains("images/operator.Dockerfile").contains("images/sidecar.Dockerfile");
    assertThat(Repo.read("images/operator.Dockerfile")).contains(operatorImage);
    assertThat(Repo.read("images/sidecar.Dockerfile")).contains(sidecarImage);
  }

  static List<String> entrypoint(String dockerfile) {
    String json = Repo.match(dockerfile, "(?m)^ENTRYPOINT\\s+(\\[.*\\])\\s*$", "the Dockerfile");
    try {
      return List.of(Chart.JSON.readValue(json, String[].class));
    } catch (IOException e) {
      throw new AssertionError("ENTRYPOINT is not a JSON array: " + json, e);
    }
  }

  /** Every image the chart runs can be pinned by digest; the digest wins over the tag. */
  @org.junit.jupiter.api.Test
  void everyImageCanBePinnedByDigest() {
    String digest = "sha256:" + "ab".repeat(32);
    java.util.Map<String, Object> sets = java.util.Map.of("operator.image.digest", digest,
        "operator.image.tag", "9.9.9", "sidecar.image.digest", digest, "redis.image.digest", digest,
        "tests.image.digest", digest);
    // helm-java's template leaves hooks out: a copy of the chart renders the helm test Pod as a plain object
    String hook = Repo.read(Repo.CHART.resolve(HelmTestHookTest.HOOK));
    Path copy = Chart.copyChart(java.util.function.UnaryOperator.identity(),
        java.util.Map.of(HelmTestHookTest.HOOK, hook.replaceAll("(?m)^\\s*helm\\.sh/hook.*$\\n", "")));
    try {
      Rendered r = new Rendered(Chart.renderText(copy, null, sets));

      assertThat(r.operatorContainer().getImage()).isEqualTo("ghcr.io/ratekeeper/ratekeeper-operator@" + digest);
      assertThat(r.envValue("RATEKEEPER_SIDECAR_IMAGE")).isEqualTo("ghcr.io/ratekeeper/ratekeeper-sidecar@" + digest);
      assertThat(r.one(io.fabric8.kubernetes.api.model.apps.StatefulSet.class, "ratekeeper-redis").getSpec()
          .getTemplate().getSpec().getContainers().get(0).getImage()).isEqualTo("docker.io/library/redis@" + digest);
      assertThat(r.one(io.fabric8.kubernetes.api.model.Pod.class, "ratekeeper-test").getSpec().getContainers())
          .hasSize(2).allSatisfy(c -> assertThat(c.getImage()).isEqualTo("docker.io/curlimages/curl@" + digest));
    } finally {
      Chart.deleteTree(copy.getParent());
    }
  }

  @org.junit.jupiter.api.Test
  void aDigestThatIsNotSha256IsRefusedByTheValuesSchema() {
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Chart.render(
        java.util.Map.of("operator.image.digest", "latest"))).hasMessageContaining("digest");
  }
}
