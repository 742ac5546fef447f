package dev.ratekeeper.testkit.redis;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;

/**
 * One real {@code redis-server} process (Debian's {@code redis-server} package, or the binary named
 * by {@code RATEKEEPER_REDIS_SERVER}) on a free loopback port, with its own directory and log. A node
 * may be plain, TLS-only ({@link RedisTls}), a cluster node, or a sentinel.
 */
public final class RedisNode implements AutoCloseable {
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
    return start(null, List.of(extra));
  }

  /** A TLS-only node (no plain port) serving {@code tls}'s server certificate; clients need not send one. */
  public static RedisNode startTls(RedisTls tls, boolean requireClientCertificate, String... extra) {
    List<String> args = new ArrayList<>(List.of("--tls-cert-file", tls.serverCertificate().toString(),
        "--tls-key-file", tls.serverKey().toString(), "--tls-ca-cert-file", tls.caCertificate().toString(),
        "--tls-auth-clients", requireClientCertificate ? "yes" : "no"));
    args.addAll(List.of(extra));
    return start(tls, args);
  }

  private static RedisNode start(RedisTls tls, List<String> extra) {
    try {
      Path dir = Files.createTempDirectory("redis-node");
      int port = freePort();
      List<String> args = new ArrayList<>();
      if (tls == null) {
        args.addAll(List.of("--port", Integer.toString(port)));
      } else {
        args.addAll(List.of("--port", "0", "--tls-port", Integer.toString(port)));
      }
      args.addAll(List.of("--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir.toString(),
          "--logfile", dir.resolve("redis.log").toString(), "--protected-mode", "no"));
      args.addAll(extra);
      RedisNode node = new RedisNode(dir, port, tls == null ? null : tls.clientContext(), args);
      node.launch();
      return node;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A sentinel (a {@code redis-server --sentinel}) watching nothing yet; {@link RedisSentinels} configures it. */
  static RedisNode startSentinel(List<String> configLines) {
    try {
      Path dir = Files.createTempDirectory("redis-sentinel");
      int port = freePort();
      List<String> lines = new ArrayList<>(List.of("port " + port, "bind 127.0.0.1", "protected-mode no",
          "dir " + dir, "logfile " + dir.resolve("sentinel.log")));
      lines.addAll(configLines);
      Path conf = dir.resolve("sentinel.conf");
      Files.write(conf, lines);
      RedisNode node = new RedisNode(dir, port, null, List.of(conf.toString(), "--sentinel"));
      node.launch();
      return node;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private void launch() {
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
    while (true) {
      try (RespClient client = client()) {
        client.call("PING");
        return;
      } catch (RuntimeException e) {
        if (!process.isAlive() || System.nanoTime() > deadline) {
          throw new IllegalStateException("redis-server on port " + port + " did not start: " + log(), e);
        }
        sleep(20);
      }
    }
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
    RespClient client = new RespClient(host(), port, tls);
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

  /** Starts the same node again (same port, same directory and node config) after {@link #kill}. */
  public void restart() {
    kill();
    launch();
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

  static int freePort() {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
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
