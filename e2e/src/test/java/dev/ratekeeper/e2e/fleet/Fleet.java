package dev.ratekeeper.e2e.fleet;

import dev.ratekeeper.e2e.Processes;
import dev.ratekeeper.testkit.FreePort;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.commands.ProtocolCommand;
import redis.clients.jedis.util.SafeEncoder;
import redis.embedded.RedisServer;

/**
 * A fleet as it runs in production, on one host: a real redis-server process (optionally with AOF),
 * the stub provider as a process, and sidecar processes started from the built jar with default JVM
 * flags, through {@link Processes} (logs in target/e2e-logs). Requests go over fresh TCP connections, one per request, as
 * new SDK clients open them.
 */
final class Fleet implements AutoCloseable {
  static final String BODY = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  /** Where {@link Processes} writes each process's output. */
  private static final Path LOGS = Path.of("target", "e2e-logs");

  private final Processes processes = new Processes();
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
  private RedisServer redis;
  private Path redisDir;
  private String appendfsync;
  /** redis.conf lines added after the fixture's own (a later line wins). */
  private List<String> extraSettings = List.of();
  private long redisPid;
  int redisPort;
  int stubPort;

  /** A sidecar process and its ports. */
  record Sidecar(String name, Process process, int proxyPort, int adminPort) {
    String log() {
      try {
        return Files.readString(LOGS.resolve(name + ".log"));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  /** redis-server on its own port; {@code appendfsync} null for no persistence, else AOF with it. */
  Fleet startRedis(String appendfsync) {
    this.appendfsync = appendfsync;
    try {
      redisDir = Files.createTempDirectory("ratekeeper-fleet-redis-");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    redis = FreePort.startOn(this::startRedisProcess); // a fresh port if another process takes this one first
    redisPort = redis.ports().get(0);
    redisPid = readPid();
    return this;
  }

  /** redis-server started with these redis.conf lines, e.g. {@code appendfsync always}, after the fixture's own. */
  Fleet startRedisWith(List<String> settings) {
    extraSettings = List.copyOf(settings);
    return startRedis((String) null);
  }

  private RedisServer startRedisProcess(int port) throws IOException {
    var builder = RedisServer.newRedisServer().port(port).bind("127.0.0.1").setting("dir " + redisDir)
        .setting("save \"\"");
    if (appendfsync == null) {
      builder.setting("appendonly no");
    } else {
      builder.setting("appendonly yes").setting("appendfsync " + appendfsync);
    }
    extraSettings.forEach(builder::setting);
    RedisServer server = builder.build();
    server.start();
    return server;
  }

  /** The processes this fleet started (and stops on close). */
  Processes processes() {
    return processes;
  }

  String redisUrl() {
    return "redis://127.0.0.1:" + redisPort;
  }

  /** One Redis command on a fresh connection; the reply as text. */
  String redis(String command, String... args) {
    try (Jedis jedis = new Jedis("127.0.0.1", redisPort, 10_000)) {
      ProtocolCommand cmd = () -> SafeEncoder.encode(command);
      Object reply = jedis.sendCommand(cmd, args);
      return render(reply);
    }
  }

  private static String render(Object reply) {
    if (reply == null) {
      return null;
    }
    if (reply instanceof byte[] bytes) {
      return new String(bytes, StandardCharsets.UTF_8);
    }
    if (reply instanceof List<?> list) {
      List<String> out = new ArrayList<>();
      list.forEach(item -> out.add(render(item)));
      return String.join("\n", out);
    }
    return String.valueOf(reply);
  }

  /** The redis-server's pid as it reported it at start (asking a stopped server would hang). */
  long redisPid() {
    return redisPid;
  }

  private long readPid() {
    String info = redis("INFO", "server");
    for (String line : info.split("\r?\n")) {
      if (line.startsWith("process_id:")) {
        return Long.parseLong(line.substring("process_id:".length()).strip());
      }
    }
    throw new IllegalStateException("no process_id in INFO server");
  }

  /** Sends a signal (STOP, CONT, KILL) to redis-server; KILL waits until it is gone. */
  void signalRedis(String signal) {
    long pid = redisPid();
    run("kill", "-" + signal, Long.toString(pid));
    if (signal.equals("KILL")) {
      ProcessHandle.of(pid).ifPresent(p -> p.onExit().join());
      try {
        redis.stop(); // reaps the library's handle of the dead process
      } catch (IOException e) {
        // already gone
      }
    }
  }

  /** Starts redis-server again on the same port and directory (it loads its AOF). */
  void restartRedis() {
    try {
      redis = startRedisProcess(redisPort);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    redisPid = readPid();
  }

  private static void run(String... command) {
    try {
      Process process = new ProcessBuilder(command).inheritIO().start();
      if (!process.waitFor(5, TimeUnit.SECONDS) || process.exitValue() != 0) {
        throw new IllegalStateException(String.join(" ", command) + " failed");
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  Fleet startStub() {
    stubPort = processes.startStub("stub");
    return this;
  }

  /** Starts {@code count} sidecars on {@code policyYaml} (with %d for the stub's port), all ready. */
  List<Sidecar> startSidecars(String name, int count, String policyYaml) {
    return startSidecars(name, count, writePolicy(policyYaml), Map.of());
  }

  /** Writes {@code policyYaml} (with %d for the stub's port) to a file sidecars and gateways can share. */
  Path writePolicy(String policyYaml) {
    try {
      Path policy = Files.createTempFile("fleet-policy", ".yaml");
      Files.writeString(policy, policyYaml.formatted(stubPort));
      return policy;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Starts {@code count} proxies from the built jar on {@code policy} and this fleet's Redis, all ready:
   * sidecars, or gateways when {@code extraArgs} say {@code --mode gateway}; {@code env} added to each.
   */
  List<Sidecar> startSidecars(String name, int count, Path policy, Map<String, String> env, String... extraArgs) {
    Map<String, Process> started = new LinkedHashMap<>();
    for (int i = 0; i < count; i++) {
      String id = name + "-" + i;
      List<String> args = new ArrayList<>(List.of("-jar", Processes.classpathOf(Processes.SIDECAR_JAR),
          "--policy-file", policy.toString(), "--redis", redisUrl(), "--listen", "127.0.0.1:0",
          "--admin-listen", "127.0.0.1:0", "--sidecar-id", id));
      args.addAll(List.of(extraArgs));
      started.put(id, processes.java(id, env, args));
    }
    List<Sidecar> sidecars = new ArrayList<>();
    started.forEach((id, process) -> {
      Processes.SidecarPorts ports = processes.awaitSidecarPorts(id, process);
      processes.awaitOk("http://127.0.0.1:" + ports.admin() + "/readyz", id, process);
      sidecars.add(new Sidecar(id, process, ports.proxy(), ports.admin()));
    });
    return sidecars;
  }

  void stop(List<Sidecar> sidecars) {
    for (Sidecar sidecar : sidecars) {
      sidecar.process().destroy();
    }
    for (Sidecar sidecar : sidecars) {
      try {
        sidecar.process().waitFor(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** One sample of the sidecar's Prometheus text (all label sets summed); 0 when absent. */
  double metric(Sidecar sidecar, String name, String labelFilter) {
    String text = get("http://127.0.0.1:" + sidecar.adminPort() + "/metrics");
    double total = 0;
    for (String line : text.split("\n")) {
      if ((line.startsWith(name + "{") || line.startsWith(name + " ")) && line.contains(labelFilter)) {
        total += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return total;
  }

  String get(String url) {
    try {
      return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).GET().build(),
          HttpResponse.BodyHandlers.ofString()).body();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** A call's answer: its status (-1: none came) and whether a limit decided it. */
  record Answer(int status, boolean metered) {}

  /**
   * One Messages call for {@code user} on a connection of its own (closed after the answer), as a
   * freshly created SDK client sends it; the status code, or -1 when no answer came.
   */
  static int call(int port, String user) {
    return exchange(port, user).status();
  }

  /**
   * As {@link #call}, also telling whether the answer was decided by a limit (it carries
   * {@code x-ratekeeper-remaining-requests}) or admitted unmetered (FailOpen while Redis is away).
   */
  static Answer exchange(int port, String user) {
    return exchange(port, "X-Ratekeeper-User", user);
  }

  /** As {@link #exchange(int, String)}, the caller named by {@code header} (a user header, or an end user's key). */
  static Answer exchange(int port, String header, String value) {
    byte[] body = BODY.getBytes(StandardCharsets.UTF_8);
    String head = "POST /anthropic/v1/messages HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n"
        + "content-type: application/json\r\nanthropic-version: 2023-06-01\r\nx-api-key: sk-test\r\n"
        + header + ": " + value + "\r\nContent-Length: " + body.length + "\r\nConnection: close\r\n\r\n";
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
      socket.setSoTimeout(15_000);
      OutputStream out = socket.getOutputStream();
      out.write(head.getBytes(StandardCharsets.US_ASCII));
      out.write(body);
      out.flush();
      byte[] answer = socket.getInputStream().readAllBytes(); // the whole answer, until the sidecar closes
      String text = new String(answer, StandardCharsets.ISO_8859_1);
      if (text.length() < 12) {
        return new Answer(-1, false);
      }
      int headEnd = text.indexOf("\r\n\r\n");
      String headers = (headEnd < 0 ? text : text.substring(0, headEnd)).toLowerCase(java.util.Locale.ROOT);
      return new Answer(Integer.parseInt(text.substring(9, 12)), headers.contains("\r\nx-ratekeeper-remaining-requests:"));
    } catch (IOException | NumberFormatException e) {
      return new Answer(-1, false);
    }
  }

  @Override
  public void close() {
    processes.close();
    try {
      if (redis != null) {
        redis.stop();
      }
    } catch (IOException e) {
      // stopped already
    }
  }
}
