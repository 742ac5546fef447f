package dev.ratekeeper.sidecar.store;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import redis.embedded.RedisServer;

/** A real redis-server (embedded-redis ships the binary) on a free loopback port, for one test class. */
final class EmbeddedRedis implements AutoCloseable {
  private final RedisServer server;
  private final int port;

  EmbeddedRedis() {
    try {
      try (ServerSocket socket = new ServerSocket(0)) {
        port = socket.getLocalPort();
      }
      server = RedisServer.newRedisServer().port(port).bind("127.0.0.1").setting("save \"\"")
          .setting("appendonly no").build();
      server.start();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  String url() {
    return "redis://127.0.0.1:" + port;
  }

  int port() {
    return port;
  }

  /** One connection of {@code vertx} to this server. */
  RedisConnection connect(Vertx vertx) {
    Redis client = Redis.createClient(vertx, new RedisOptions().setConnectionString(url()).setMaxWaitingHandlers(100_000));
    return await(client.connect());
  }

  static <T> T await(Future<T> future) {
    try {
      return future.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw new IllegalStateException(e.getCause());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  static Response call(RedisConnection connection, Command command, Object... args) {
    return await(connection.send(Request.cmd(command, args)));
  }

  /**
   * Every key under {@code prefix}, rendered as {@link InMemoryLimiterStore#snapshot()} renders its
   * twin: strings as they are, hashes and sorted sets as sorted {@code {field=value}} maps.
   */
  static Map<String, String> snapshot(RedisConnection connection, String prefix) {
    Map<String, String> out = new TreeMap<>();
    for (Response key : call(connection, Command.KEYS, prefix + "*")) {
      String name = key.toString();
      String type = call(connection, Command.TYPE, name).toString();
      switch (type) {
        case "string" -> out.put(name, call(connection, Command.GET, name).toString());
        case "hash" -> {
          Map<String, String> fields = new TreeMap<>();
          Response all = call(connection, Command.HGETALL, name);
          for (String field : all.getKeys()) {
            fields.put(field, all.get(field).toString());
          }
          out.put(name, fields.toString());
        }
        case "zset" -> {
          Map<String, Long> scores = new TreeMap<>();
          Response all = call(connection, Command.ZRANGE, name, 0, -1, "WITHSCORES");
          List<String> flat = new ArrayList<>();
          for (Response r : all) {
            if (r.type() == io.vertx.redis.client.ResponseType.MULTI) {
              r.forEach(x -> flat.add(x.toString()));
            } else {
              flat.add(r.toString());
            }
          }
          for (int i = 0; i < flat.size(); i += 2) {
            scores.put(flat.get(i), (long) Double.parseDouble(flat.get(i + 1)));
          }
          out.put(name, scores.toString());
        }
        case "none" -> { }
        default -> throw new IllegalStateException(name + " has unexpected type " + type);
      }
    }
    return out;
  }

  @Override
  public void close() {
    try {
      server.stop();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static Duration timeout() {
    return Duration.ofSeconds(10);
  }
}
