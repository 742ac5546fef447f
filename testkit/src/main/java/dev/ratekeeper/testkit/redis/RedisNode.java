package dev.ratekeeper.testkit.redis;

import dev.ratekeeper.testkit.FreePort;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.IntSupplier;
import java.util.function.Supplier;
import javax.net.ssl.SSLContext;

/**
 * One real {@code redis-server} process (Debian's {@code redis-server} package, or the binary named
 * by {@code RATEKEEPER_REDIS_SERVER}) on a free loopback port, with its own directory and log. A node
 * may be plain, TLS-only ({@link RedisTls}), a cluster node, or a sentinel.
 *
 * <p>A port found free may be taken by another process before redis-server binds it; a node that
 * exits with "Address already in use" is started again on fresh ports, in a new directory. A
 * {@link #restart} keeps the node's port, and fails if the port was taken while the node was down.
 */
public final class RedisNode implements AutoCloseable {
  /** Ports a new node tries before giving up. */
  static final int PORT_ATTEMPTS = 5;
  /** How long a start-up probe waits for a reply: whatever else holds the port may never answer. */
  private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(1);
  private final Path dir;
  private final int port;
  private final SSLContext tls;
  private final List<String> args;
  /** The node's {@code --requirepass}, sent by control connections; null for none. */
  private final String password;
  private Process process;

  private RedisNode(Path dir, int port, SSLContext tls, List<String> args) {
    this.dir = dir;
    this.port = port;
    this.tls = tls;
    this.args = args;
    int at = args.indexOf("--requirepass");
    this.password = at < 0 ? null : args.get(at + 1);
  }

  /** The redis-server binary: {@code RATEKEEPER_REDIS_SERVER}, else the first on the PATH or in /usr/bin. */
  public static Path serverBinary() {
    String given = System.getenv("RATEKEEPER_REDIS_SERVER");
    if (given != null && !given.isBlank()) {
      return Path.of(given);
    }
    for (String dirName : (System.getenv().getOrDefault("PATH", "") + ":/usr/bin:/usr/local/bin").split(":")) {
      if (!dirName.isEmpty()) {
        Path candidate = Path.of(dirName, "redis-server");
        if (Files.isExecutable(candidate)) {
          return candidate;
        }
      }
    }
    throw new IllegalStateException("no redis-server binary: install Debian's redis-server package"
        + " (apt-get install redis-server), or set RATEKEEPER_REDIS_SERVER");
  }

  /** A plain node; {@code extra} are further {@code --option value} pairs. */
  public static RedisNode start(String... extra) {
    return start(FreePort::find, null, () -> List.of(extra));
  }

  /** A TLS-only node (no plain port) serving {@code tls}'s server certificate; clients need not send one. */
  public static RedisNode startTls(RedisTls tls, boolean requireClientCertificate, String... extra) {
    List<String> args = new ArrayList<>(List.of("--tls-cert-file", tls.serverCertificate().toString(),
        "--tls-key-file", tls.serverKey().toString(), "--tls-ca-cert-file", tls.caCertificate().toString(),
        "--tls-auth-clients", requireClientCertificate ? "yes" : "no"));
    args.addAll(List.of(extra));
    return start(FreePort::find, tls, () -> args);
  }

  /**
   * A plain or TLS node on a port from {@code ports}; {@code extra} is asked again for each port tried,
   * so options naming a port of their own (a cluster node's {@code --cluster-port}) can take a fresh one.
   */
  static RedisNode start(IntSupplier ports, RedisTls tls, Supplier<List<String>> extra) {
    SSLContext clientTls = tls == null ? null : tls.clientContext();
    return startOnFreePort(ports, "redis-node", clientTls, (port, dir) -> {
      List<String> args = new ArrayList<>(tls == null ? List.of("--port", Integer.toString(port))
          : List.of("--port", "0", "--tls-port", Integer.toString(port)));
      args.addAll(List.of("--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir.toString(),
          "--logfile", dir.resolve("redis.log").toString(), "--protected-mode", "no"));
      args.addAll(extra.get());
      return args;
    });
  }

  /** A sentinel (a {@code redis-server --sentinel}) watching nothing yet; {@link RedisSentinels} configures it. */
  static RedisNode startSentinel(List<String> configLines) {
    return startOnFreePort(FreePort::find, "redis-sentinel", null, (port, dir) -> {
      List<String> lines = new ArrayList<>(List.of("port " + port, "bind 127.0.0.1", "protected-mode no",
          "dir " + dir, "logfile " + dir.resolve("sentinel.log")));
      lines.addAll(configLines);
      Path conf = dir.resolve("sentinel.conf");
      Files.write(conf, lines);
      return List.of(conf.toString(), "--sentinel");
    });
  }

  /** The arguments of a node listening on {@code port} and keeping its files in {@code dir}. */
  private interface NodeArgs {
    List<String> on(int port, Path dir) throws IOException;
  }

  /** Starts a node on a port from {@code ports}, in a new directory; on fresh ones while its port turns out taken. */
  private static RedisNode startOnFreePort(IntSupplier ports, String dirPrefix, SSLContext tls, NodeArgs args) {
    try {
      RedisNode node = null;
      for (int attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
        int port = ports.getAsInt();
        Path dir = Files.createTempDirectory(dirPrefix);
        node = new RedisNode(dir, port, tls, args.on(port, dir));
        if (node.launch()) {
          return node;
        }
      }
      throw new IllegalStateException("redis-server found its port taken " + PORT_ATTEMPTS + " times in a row: "
          + node.log());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Runs redis-server and waits until it answers as itself (its own pid: another server may hold the
   * port). False when it exited because a port of its was taken; any other failure throws.
   */
  private boolean launch() {
    List<String> command = new ArrayList<>();
    command.add(serverBinary().toString());
    command.addAll(args);
    try {
      process = new ProcessBuilder(command).redirectErrorStream(true)
          .redirectOutput(dir.resolve("stdout.log").toFile()).start();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + command.get(0), e);
    }
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    RuntimeException last = null;
    while (true) {
      if (!process.isAlive()) {
        String log = log();
        if (log.contains("Address already in use")) {
          return false;
        }
        throw new IllegalStateException("redis-server on port " + port + " exited: " + log, last);
      }
      try (RespClient client = client(PROBE_TIMEOUT)) {
        if (pidOf(client) == process.pid()) {
          return true;
        }
      } catch (RuntimeException e) {
        last = e;
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("redis-server on port " + port + " did not start: " + log(), last);
      }
      sleep(20);
    }
  }

  /** The pid the server at the other end of {@code client} reports ({@code INFO server}). */
  private static long pidOf(RespClient client) {
    for (String line : client.text("INFO", "server").split("\r\n")) {
      if (line.startsWith("process_id:")) {
        return Long.parseLong(line.substring("process_id:".length()));
      }
    }
    throw new IllegalStateException("no process_id in INFO server");
  }

  public int port() {
    return port;
  }

  public String host() {
    return "127.0.0.1";
  }

  /** {@code host:port}. */
  public String address() {
    return host() + ":" + port;
  }

  /** {@code redis://127.0.0.1:port} or {@code rediss://localhost:port} (TLS: the name its certificate carries). */
  public String url() {
    return tls == null ? "redis://" + address() : "rediss://localhost:" + port;
  }

  /** A new control connection (TLS nodes: trusting the test CA). */
  public RespClient client() {
    return client(RespClient.READ_TIMEOUT);
  }

  private RespClient client(Duration readTimeout) {
    RespClient client = new RespClient(host(), port, tls, readTimeout);
    if (password != null) {
      try {
        client.call("AUTH", password);
      } catch (RuntimeException e) {
        client.close();
        throw e;
      }
    }
    return client;
  }

  /** One command on a fresh control connection. */
  public Object call(Object... command) {
    try (RespClient client = client()) {
      return client.call(command);
    }
  }

  public boolean alive() {
    return process != null && process.isAlive();
  }

  /** SIGKILL: the process dies at once, as in a crashed pod. */
  public void kill() {
    if (process != null) {
      process.destroyForcibly();
      try {
        process.waitFor(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /**
   * Starts the same node again (same port, same directory and node config) after {@link #kill}; fails
   * if another process took the port meanwhile.
   */
  public void restart() {
    kill();
    if (!launch()) {
      throw new IllegalStateException("redis-server cannot come back on its port " + port
          + ": another process took it while the node was down: " + log());
    }
  }

  /** The node's own log, for failure messages. */
  public String log() {
    try {
      Path log = Files.exists(dir.resolve("redis.log")) ? dir.resolve("redis.log") : dir.resolve("sentinel.log");
      String text = Files.exists(log) ? Files.readString(log) : "";
      String out = Files.exists(dir.resolve("stdout.log")) ? Files.readString(dir.resolve("stdout.log")) : "";
      String all = text + out;
      return all.length() > 4_000 ? all.substring(all.length() - 4_000) : all;
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  public Path dir() {
    return dir;
  }

  @Override
  public void close() {
    kill();
  }

  static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
