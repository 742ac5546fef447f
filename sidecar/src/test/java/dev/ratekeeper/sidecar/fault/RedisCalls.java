package dev.ratekeeper.sidecar.fault;

import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The test's own Redis client, on a Vert.x of its own (not the sidecars'): one pooled client that
 * reconnects after a restart, for reading what Redis holds while the sidecars run.
 */
final class RedisCalls implements AutoCloseable {
  private final Vertx vertx = Vertx.vertx();
  private final Redis client;

  RedisCalls(String url) {
    client = Redis.createClient(vertx, new RedisOptions().setConnectionString(url).setMaxPoolSize(4)
        .setMaxPoolWaiting(1_000));
  }

  /** One command; the reply as text, null for nil. Fails when Redis does not answer within 2 s. */
  String call(String... command) {
    Response reply = send(command);
    return reply == null ? null : reply.toString();
  }

  long callLong(String... command) {
    String reply = call(command);
    return reply == null ? 0 : Long.parseLong(reply);
  }

  Response send(String... command) {
    Request request = Request.cmd(Command.create(command[0]));
    for (int i = 1; i < command.length; i++) {
      request.arg(command[i]);
    }
    try {
      return client.send(request).toCompletionStage().toCompletableFuture().get(2, TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      throw new IllegalStateException(e.getCause());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** The pid of the redis-server process ({@code INFO server}: {@code process_id}). */
  long pid() {
    for (String line : call("INFO", "server").split("\r?\n")) {
      if (line.startsWith("process_id:")) {
        return Long.parseLong(line.substring("process_id:".length()).trim());
      }
    }
    throw new IllegalStateException("INFO server has no process_id");
  }

  /** Keys matching {@code pattern} (tests only: KEYS). */
  List<String> keys(String pattern) {
    List<String> out = new ArrayList<>();
    send("KEYS", pattern).forEach(r -> out.add(r.toString()));
    return out;
  }

  /** The sum of a sorted set's scores (0 when it does not exist). */
  long zsetTotal(String key) {
    return callLong("EVAL", "local t = 0 for i, v in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')) do "
        + "if i % 2 == 0 then t = t + tonumber(v) end end return t", "1", key);
  }

  @Override
  public void close() {
    client.close();
    vertx.close().toCompletionStage().toCompletableFuture().join();
  }
}
