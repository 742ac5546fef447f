package dev.ratekeeper.e2e.image;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ratekeeper.e2e.Processes;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * images/sidecar.Dockerfile's class-data archive, checked without Docker (no engine runs where the
 * project is built): the file's COPY lines lay out its {@code /app} in a directory, its {@code RUN}
 * (the training run) and its {@code ENTRYPOINT} run there as written, with the image's
 * {@code JAVA_TOOL_OPTIONS}. Only what a container would see differently is swapped: {@code /app}
 * for that directory, and the ports (free ones; the training run's defaults may be taken here).
 */
class SidecarImageIT {
  static final Path DOCKERFILE = Processes.ROOT.resolve("images/sidecar.Dockerfile");
  static final ObjectMapper JSON = new ObjectMapper();

  static String dockerfile;
  static Path app;
  static Processes processes = new Processes();

  @BeforeAll
  static void layOutTheImage() throws IOException {
    dockerfile = Files.readString(DOCKERFILE).replace("\\\n", " "); // continued lines as Docker reads them
    app = Files.createTempDirectory("sidecar-image");
    Matcher copy = Pattern.compile("(?m)^COPY\\s+(\\S+)\\s+(/app/\\S+)\\s*$").matcher(dockerfile);
    while (copy.find()) {
      Path target = inImage(copy.group(2));
      Files.createDirectories(target.getParent());
      Files.copy(Processes.ROOT.resolve(copy.group(1)), target);
    }
  }

  @AfterAll
  static void stop() throws IOException {
    processes.close();
    try (var files = Files.walk(app)) {
      files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  static Path inImage(String path) {
    return Path.of(app + path);
  }

  /** An exec-form instruction's words, with /app/ paths moved into the laid-out directory. */
  static List<String> words(String instruction) throws IOException {
    Matcher m = Pattern.compile("(?m)^" + instruction + "\\s+(\\[.*\\])\\s*$").matcher(dockerfile);
    assertThat(m.find()).as(instruction + " in exec form").isTrue();
    List<String> words = new ArrayList<>();
    for (String w : JSON.readValue(m.group(1), String[].class)) {
      words.add(w.replace("/app/", app + "/app/"));
    }
    assertThat(words.get(0)).isEqualTo("java");
    return words.subList(1, words.size());
  }

  static String imageJavaOptions() {
    Matcher m = Pattern.compile("(?m)^ENV JAVA_TOOL_OPTIONS=\"([^\"]*)\"").matcher(dockerfile);
    assertThat(m.find()).isTrue();
    return m.group(1);
  }

  /** {@code args} with both listeners on port 0: the sidecar binds free ports itself and names them in its log. */
  static List<String> onPortZero(List<String> args) {
    List<String> out = new ArrayList<>(args);
    out.addAll(List.of("--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"));
    return out;
  }

  /**
   * Polls {@code /readyz} over HTTP/1.1, as the kubelet's probes do: the JDK client's default asks to
   * upgrade to HTTP/2 (h2c), which loads Netty's HTTP/2 classes, which no HTTP/1.1 client needs.
   */
  static void awaitReady(String admin, Process sidecar) throws Exception {
    java.net.http.HttpClient http = java.net.http.HttpClient.newBuilder()
        .version(java.net.http.HttpClient.Version.HTTP_1_1).build();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      assertThat(sidecar.isAlive()).as("the sidecar runs; see target/e2e-logs/image-sidecar.log").isTrue();
      try {
        if (http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://" + admin + "/readyz")).build(),
            java.net.http.HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
          return;
        }
      } catch (java.io.IOException notListeningYet) {
        // polled again below
      }
      Thread.sleep(50); // poll interval while the sidecar starts
    }
    throw new AssertionError("the sidecar was not ready after 30 s; see target/e2e-logs/image-sidecar.log");
  }

  @Test
  void theTrainingRunWritesAnArchiveThatTheEntrypointMapsTheSidecarsClassesFrom() throws Exception {
    // the training run: the sidecar starts, gets ready, exits 0; the JVM writes the archive as it exits
    Process training = processes.java("image-training", Map.of("JAVA_TOOL_OPTIONS", imageJavaOptions()),
        onPortZero(words("RUN")));
    assertThat(training.waitFor(60, TimeUnit.SECONDS)).as("the training run exits by itself").isTrue();
    String trainingLog = Files.readString(Path.of("target", "e2e-logs", "image-training.log"));
    assertThat(training.exitValue()).as(trainingLog).isZero();
    assertThat(trainingLog).contains("ready; /readyz 200, /metrics 200, a malformed call 400; exiting (--exit-when-ready)");
    Path archive = inImage("/app/ratekeeper-sidecar.jsa");
    assertThat(archive).as("the archive the ENTRYPOINT names").isRegularFile();
    assertThat(words("ENTRYPOINT")).contains("-XX:SharedArchiveFile=" + archive);

    // the image's command, with the image's settings: the sidecar's classes come from the archive
    Path classLog = Files.createTempFile(app, "class-load", ".log");
    List<String> args = new ArrayList<>(words("ENTRYPOINT"));
    args.addAll(onPortZero(List.of("--policy-file", Processes.ROOT.resolve("examples/minimal.yaml").toString())));
    Process sidecar = processes.java("image-sidecar",
        Map.of("JAVA_TOOL_OPTIONS", imageJavaOptions() + " -Xlog:class+load=info:file=" + classLog), args);
    awaitReady("127.0.0.1:" + processes.awaitSidecarPorts("image-sidecar", sidecar).admin(), sidecar);

    List<String> loaded = Files.readAllLines(classLog);
    long fromArchive = loaded.stream().filter(l -> l.contains("source: shared objects file")).count();
    List<String> ours = loaded.stream().filter(l -> l.matches(".*\\] dev\\.ratekeeper\\.\\S+ source: .*")).toList();
    assertThat(ours).as("the sidecar's own classes loaded up to ready").hasSizeGreaterThan(100);
    // every class of the sidecar's own; lambdas are archived as the training run made them, so one made
    // only by a long-running sidecar (its shutdown hook) is made again at run time
    assertThat(ours.stream().filter(l -> !l.contains("$$Lambda$")))
        .as("each of them mapped from the training run's archive")
        .allMatch(l -> l.contains("source: shared objects file (top)"));
    assertThat(ours.stream().filter(l -> l.contains("source: shared objects file (top)")).count())
        .as("of the sidecar's %d classes and lambdas", ours.size()).isGreaterThan(ours.size() * 95L / 100);
    assertThat(fromArchive).as("classes mapped from the archives, of %d loaded up to ready", loaded.size())
        .isGreaterThan(loaded.size() * 95L / 100);
  }
}
