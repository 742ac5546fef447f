package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.store.EmbeddedRedis.await;

import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.RedisConnection;
import java.util.Map;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * The behaviour suite against a real redis-server through admit.lua / reconcile.lua, on a pinned
 * script clock ({@link RedisTime#pinned}) so waits can be asserted to the millisecond.
 */
class RedisLimiterStoreTest extends LimiterStoreContract {
  private static EmbeddedRedis redis;
  private static Vertx vertx;
  private static RedisConnection connection;

  @BeforeAll
  static void startRedis() {
    redis = new EmbeddedRedis();
    vertx = Vertx.vertx();
    connection = redis.connect(vertx);
  }

  @AfterAll
  static void stopRedis() {
    await(vertx.close());
    redis.close();
  }

  @Override
  protected LimiterStore newStore(LimiterOptions options, LongSupplier clockMs) {
    EmbeddedRedis.call(connection, Command.FLUSHALL);
    RedisLimiterStore store = RedisLimiterStore.create(connection, options, RedisTime.pinned(clockMs));
    await(store.loadScripts());
    return store;
  }

  @Override
  protected Map<String, String> snapshot() {
    return EmbeddedRedis.snapshot(connection, P);
  }
}
