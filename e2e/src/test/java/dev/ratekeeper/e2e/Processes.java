package dev.ratekeeper.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Programs of the project started as processes of their own, with their output in target/e2e-logs. */
public final class Processes implements AutoCloseable {
  public static final Path ROOT = Path.of(System.getProperty("ratekeeper.root", ".."));
  public static final Path SIDECAR_JAR = ROOT.resolve("sidecar/target/ratekeeper-sidecar.jar");
  public static final Path DEMO_JAR = ROOT.resolve("demo/target/ratekeeper-demo.jar");
  public static final Path OPERATOR_JAR = ROOT.resolve("operator/target/ratekeeper-operator.jar");
  private static final String JAVA = ProcessHandle.current().info().command().orElse("java");

  private final List<Process> started = new ArrayList<>();
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  /** Starts {@code java args...} with {@code env} added to this process's environment. */
  public Process java(String name, Map<String, String> env, List<String> args) {
    List<String> command = new ArrayList<>();
    command.add(JAVA);
    command.addAll(args);
    try {
      Path logs = Path.of("target", "e2e-logs");
      Files.createDirectories(logs);
      ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
          .redirectOutput(logs.resolve(name + ".log").toFile());
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
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException(name + " exited with " + process.exitValue() + "; see target/e2e-logs/" + name
            + ".log");
      }
      try {
        HttpResponse<String> resp = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(2))
            .GET().build(), HttpResponse.BodyHandlers.ofString());
        if (resp.statusCode() == 200) {
          return;
        }
      } catch (IOException e) {
        // not listening yet
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
      try {
        Thread.sleep(50); // poll interval while a process starts
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }
    throw new IllegalStateException(name + " not ready at " + url + "; see target/e2e-logs/" + name + ".log");
  }

  public static int freePort() {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
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
