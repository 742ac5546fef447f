package dev.ratekeeper.sidecar.fault;

import dev.ratekeeper.testkit.FreePort;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import redis.embedded.RedisServer;

/**
 * A real redis-server (the embedded-redis binary) with append-only persistence in a directory of
 * its own: {@code appendonly yes}, {@code appendfsync always | everysec}, no RDB snapshots. A test
 * can kill it hard ({@code SIGKILL}, as the OOM killer or a node failure would) and start it again
 * from the same directory, on the same port or on another one.
 */
final class DurableRedis implements AutoCloseable {
  private final Path dir;
  private final String appendfsync;
  private final int port;
  private final List<String> log = new CopyOnWriteArrayList<>();
  private RedisServer server;

  DurableRedis(String appendfsync) {
    this.appendfsync = appendfsync;
    try {
      dir = Files.createTempDirectory("ratekeeper-aof-");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    server = startOnFreePort();
    port = server.ports().get(0);
  }

  /**
   * Starts a redis-server on a free port of its own (a fresh one if another process takes it first)
   * that loads and appends to this directory's AOF.
   */
  RedisServer startOnFreePort() {
    return FreePort.startOn(this::startOn);
  }

  private RedisServer startOn(int onPort) throws IOException {
    RedisServer started = RedisServer.newRedisServer().port(onPort).bind("127.0.0.1")
        .setting("dir " + dir)
        .setting("appendonly yes")
        .setting("appendfilename \"appendonly.aof\"")
        .setting("appendfsync " + appendfsync)
        .setting("save \"\"")
        .soutListener(log::add)
        .build();
    started.start();
    return started;
  }

  String url() {
    return url(port);
  }

  static String url(int port) {
    return "redis://127.0.0.1:" + port;
  }

  /** What the server printed (Redis logs to stdout), e.g. "DB loaded from append only file". */
  List<String> log() {
    return List.copyOf(log);
  }

  /** {@code kill -9} of the process whose pid Redis reports ({@code INFO server}: process_id); returns once it is gone. */
  void killHard(long pid) {
    ProcessHandle process = ProcessHandle.of(pid).orElseThrow(() -> new IllegalStateException("no process " + pid));
    if (!process.destroyForcibly()) {
      throw new IllegalStateException("could not SIGKILL redis-server " + pid);
    }
    try {
      process.onExit().get(5, TimeUnit.SECONDS);
      server.stop(); // the handle the library holds: reaps the dead process, sends nothing that matters
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** Starts the server again on its own port, from the same directory. */
  void restart() {
    try {
      server = startOn(port);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Stops the server and deletes its directory. */
  @Override
  public void close() {
    try {
      server.stop();
      try (var files = Files.walk(dir)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
