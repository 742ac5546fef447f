package dev.ratekeeper.operator.testing;

import dev.ratekeeper.testkit.FreePort;
import java.io.IOException;
import java.io.UncheckedIOException;
import redis.clients.jedis.Jedis;
import redis.embedded.RedisServer;

/**
 * A real redis-server (embedded-redis ships the binary) on a free loopback port. It can be stopped
 * and started again on the same port, to play a Redis outage.
 */
public final class EmbeddedRedis implements AutoCloseable {
  private final int port;
  private RedisServer server;

  public EmbeddedRedis() {
    server = FreePort.startOn(EmbeddedRedis::startOn); // a fresh port if another process takes this one first
    port = server.ports().get(0);
  }

  /** Starts it again on its own port, after {@link #stop}. */
  public synchronized void start() {
    try {
      server = startOn(port);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static RedisServer startOn(int port) throws IOException {
    RedisServer server = RedisServer.newRedisServer().port(port).bind("127.0.0.1").setting("save \"\"")
        .setting("appendonly no").build();
    server.start();
    return server;
  }

  public synchronized void stop() {
    try {
      server.stop();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public String url() {
    return "redis://127.0.0.1:" + port;
  }

  public int port() {
    return port;
  }

  /** A fresh connection; close it after use. */
  public Jedis client() {
    return new Jedis("127.0.0.1", port);
  }

  @Override
  public void close() {
    stop();
  }
}
