package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.store.EmbeddedRedis.await;

import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import io.vertx.redis.client.Command;
import java.util.Map;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The behaviour suite against a real redis-server through admit.lua / reconcile.lua, on a pinned
 * script clock ({@link RedisTime#pinned}) so waits can be asserted to the millisecond.
 */
class RedisLimiterStoreTest extends LimiterStoreContract {
  @RegisterExtension
  static final ConnectedRedis REDIS = new ConnectedRedis();

  @Override
  protected LimiterStore newStore(LimiterOptions options, LongSupplier clockMs) {
    EmbeddedRedis.call(REDIS.connection(), Command.FLUSHALL);
    RedisLimiterStore store = RedisLimiterStore.create(REDIS.connection(), options, RedisTime.pinned(clockMs));
    await(store.loadScripts());
    return store;
  }

  @Override
  protected Map<String, String> snapshot() {
    return EmbeddedRedis.snapshot(REDIS.connection(), P);
  }
}
