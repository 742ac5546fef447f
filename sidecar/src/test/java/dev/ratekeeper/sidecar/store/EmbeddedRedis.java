package dev.ratekeeper.sidecar.store;

import dev.ratekeeper.sidecar.it.SidecarFixture;
import dev.ratekeeper.testkit.FreePort;
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
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import redis.embedded.RedisServer;

/** A real redis-server (embedded-redis ships the binary) on a free loopback port, for one test class. */
final class EmbeddedRedis implements AutoCloseable {
  private final RedisServer server;
  private final int port;

  EmbeddedRedis() {
    server = FreePort.startOn(SidecarFixture::startPlainRedis);
    port = server.ports().get(0);
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
    Response reply = await(connection.send(Request.cmd(Command.EVAL).arg(SNAPSHOT).arg(0).arg(prefix + "*")));
    Map<String, String> out = new TreeMap<>();
    for (int i = 0; i < reply.size(); i += 3) {
      String key = reply.get(i).toString();
      String type = reply.get(i + 1).toString();
      Response value = reply.get(i + 2);
      switch (type) {
        case "string" -> out.put(key, value.get(0).toString());
        case "hash", "zset" -> {
          Map<String, Object> fields = new TreeMap<>();
          for (int j = 0; j < value.size(); j += 2) {
            String field = value.get(j).toString();
            String v = value.get(j + 1).toString();
            fields.put(field, type.equals("zset") ? (Object) (long) Double.parseDouble(v) : v);
          }
          out.put(key, fields.toString());
        }
        default -> throw new IllegalStateException(key + " has unexpected type " + type);
      }
    }
    return out;
  }

  /** Every key matching ARGV[1] with its type and contents, in one round trip (tests only: uses KEYS). */
  private static final String SNAPSHOT = """
      local out = {}
      for _, key in ipairs(redis.call('KEYS', ARGV[1])) do
        local kind = redis.call('TYPE', key).ok
        local value = {}
        if kind == 'string' then
          value = {redis.call('GET', key)}
        elseif kind == 'hash' then
          value = redis.call('HGETALL', key)
        elseif kind == 'zset' then
          value = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
        end
        out[#out + 1] = key
        out[#out + 1] = kind
        out[#out + 1] = value
      end
      return out
      """;

  @Override
  public void close() {
    try {
      server.stop();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
