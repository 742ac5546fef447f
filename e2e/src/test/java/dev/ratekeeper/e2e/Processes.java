package dev.ratekeeper.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Programs of the project started as processes of their own, with their output in target/e2e-logs.
 * They listen on port 0 and say in their log which ports they bound (a port a test found free and
 * handed over could be taken by another process before the program binds it).
 */
public final class Processes implements AutoCloseable {
  public static final Path ROOT = Path.of(System.getProperty("ratekeeper.root", ".."));
  public static final Path SIDECAR_JAR = ROOT.resolve("sidecar/target/ratekeeper-sidecar.jar");
  public static final Path DEMO_JAR = ROOT.resolve("demo/target/ratekeeper-demo.jar");
  public static final Path OPERATOR_JAR = ROOT.resolve("operator/target/ratekeeper-operator.jar");
  private static final String JAVA = ProcessHandle.current().info().command().orElse("java");
  private static final Path LOGS = Path.of("target", "e2e-logs");
  /** The sidecar's start-up line: "... enforcing ns/name revision r on 127.0.0.1:PROXY (admin :ADMIN, store ...)". */
  private static final Pattern SIDECAR_STARTED = Pattern.compile(" on [^ ]+:(\\d+) \\(admin :(\\d+),");
  /** StubServerMain's start-up line. */
  private static final Pattern STUB_STARTED = Pattern.compile("^stub listening on http://[^:]+:(\\d+)$");

  private final List<Process> started = new ArrayList<>();
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  /** Starts {@code java args...} with {@code env} added to this process's environment. */
  public Process java(String name, Map<String, String> env, List<String> args) {
    List<String> command = new ArrayList<>();
    command.add(JAVA);
    command.addAll(args);
    try {
      Files.createDirectories(LOGS);
      ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
          .redirectOutput(LOGS.resolve(name + ".log").toFile());
      builder.environment().putAll(env);
      Process process = builder.start();
      started.add(process);
      return process;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Waits until {@code url} answers 200, or fails naming the log to read. */
  public void awaitOk(String url, String name, Process process) {
    awaitStart(name, process, "200 from " + url, () -> {
      try {
        HttpResponse<String> resp = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(2))
            .GET().build(), HttpResponse.BodyHandlers.ofString());
        return resp.statusCode() == 200 ? url : null;
      } catch (IOException e) {
        return null; // not listening yet
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    });
  }

  /** The ports a sidecar bound: its proxy and admin listeners. */
  public record SidecarPorts(int proxy, int admin) {}

  /** The ports a sidecar started with port 0 for both listeners bound, once its start-up line names them. */
  public SidecarPorts awaitSidecarPorts(String name, Process process) {
    Matcher started = awaitLogLine(name, process, SIDECAR_STARTED);
    return new SidecarPorts(Integer.parseInt(started.group(1)), Integer.parseInt(started.group(2)));
  }

  /** Starts the stub provider ({@code StubServerMain}) on a port of its choosing; returns that port once it serves. */
  public int startStub(String name) {
    Process stub = java(name, Map.of(), List.of("-XX:+UseSerialGC", "-cp", classpathOf(DEMO_JAR),
        "dev.ratekeeper.testkit.StubServerMain", "--port", "0"));
    int port = Integer.parseInt(awaitLogLine(name, stub, STUB_STARTED).group(1));
    awaitOk("http://127.0.0.1:" + port + "/v1/models", name, stub);
    return port;
  }

  /** Waits until a line of {@code name}'s log matches {@code pattern} (found anywhere in the line). */
  public Matcher awaitLogLine(String name, Process process, Pattern pattern) {
    Path log = LOGS.resolve(name + ".log");
    return awaitStart(name, process, "log line matching " + pattern, () -> {
      try {
        return Files.readAllLines(log, StandardCharsets.ISO_8859_1).stream().map(pattern::matcher)
            .filter(Matcher::find).findFirst().orElse(null);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    });
  }

  /** Polls {@code attempt} until it gives a value, or fails naming the log to read (the process exited, or 30 s). */
  private static <T> T awaitStart(String name, Process process, String what, Supplier<T> attempt) {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException(name + " exited with " + process.exitValue() + "; see target/e2e-logs/" + name
            + ".log");
      }
      T value = attempt.get();
      if (value != null) {
        return value;
      }
      try {
        Thread.sleep(50); // poll interval while a process starts
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }
    throw new IllegalStateException(name + " gave no " + what + " within 30 s; see target/e2e-logs/" + name
        + ".log");
  }

  public static String classpathOf(Path jar) {
    if (!Files.isRegularFile(jar)) {
      throw new IllegalStateException(jar + " is missing: the module that builds it runs before this one");
    }
    return jar.toString();
  }

  @Override
  public void close() {
    for (Process process : started) {
      process.destroy();
    }
    for (Process process : started) {
      try {
        if (!process.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
          process.destroyForcibly();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
