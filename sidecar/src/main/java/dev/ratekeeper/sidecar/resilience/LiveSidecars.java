package dev.ratekeeper.sidecar.resilience;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.keys.RedisKeys;
import dev.ratekeeper.sidecar.time.SidecarClock;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.redis.client.RedisAPI;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * How many sidecars enforce the policy: those whose heartbeat ({@code rk:{ns/name}:sidecars}, scored
 * in wall-clock ms) is at most 15 s old by the sidecar's clock, counted every
 * {@value #COUNT_MS} ms. LocalFallback divides every limit by the last count. While Redis is
 * unavailable the last count stands; it is never below one (this sidecar).
 */
final class LiveSidecars {
  static final long COUNT_MS = 2_000;

  private final RedisAPI redis;
  private final Supplier<CompiledPolicy> policy;
  private final SidecarClock clock;
  private final BooleanSupplier redisUp;
  private final AtomicInteger count = new AtomicInteger(1);
  private final Vertx vertx;
  private final long timer;

  LiveSidecars(Vertx vertx, RedisAPI redis, Supplier<CompiledPolicy> policy, SidecarClock clock,
      BooleanSupplier redisUp) {
    this.vertx = vertx;
    this.redis = redis;
    this.policy = policy;
    this.clock = clock;
    this.redisUp = redisUp;
    count();
    this.timer = vertx.setPeriodic(COUNT_MS, t -> count());
  }

  /** The last count. */
  int get() {
    return count.get();
  }

  /** Counts now; completes with the new count (the last one while Redis is unavailable). */
  Future<Integer> count() {
    if (!redisUp.getAsBoolean()) {
      return Future.succeededFuture(count.get());
    }
    long now = clock.millis();
    return redis.zcount(new RedisKeys(policy.get().id()).sidecars(), Long.toString(now - 15_000), "+inf")
        .map(live -> {
          count.set(Math.max(1, live.toInteger()));
          return count.get();
        });
  }

  void close() {
    vertx.cancelTimer(timer);
  }
}
