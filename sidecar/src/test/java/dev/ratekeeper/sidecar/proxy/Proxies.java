package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.identity.IdentityResolver;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import dev.ratekeeper.sidecar.metrics.SidecarMetrics;
import dev.ratekeeper.sidecar.time.SidecarClock;
import dev.ratekeeper.sidecar.upstream.CooldownScope;
import dev.ratekeeper.sidecar.upstream.UpstreamCooldowns;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * A proxy built from its parts, for tests that put a store or an upstream observer of their own in
 * it: on the system clock, with header-named users and no Redis cooldowns.
 */
final class Proxies {
  private Proxies() {}

  /** A forwarder to {@code upstreamUrl} (as anthropic and openai) whose throttles go to {@code throttled}. */
  static Forwarder forwarder(Vertx vertx, String upstreamUrl,
      BiFunction<CooldownScope, MultiMap, Future<Void>> throttled) {
    return new Forwarder(vertx, Map.of("anthropic", upstreamUrl, "openai", upstreamUrl), Map.of(), 1_000, 5_000,
        new Forwarder.UpstreamObserver() {
          @Override
          public Future<Void> throttled(CooldownScope scope, MultiMap headers) {
            return throttled.apply(scope, headers);
          }

          @Override
          public void answered(CooldownScope scope, CooldownScope quotaScope, long sentNanos, MultiMap headers) {
          }
        }, SidecarClock.SYSTEM);
  }

  /** A proxy of {@code policy} deciding with {@code store}, not yet listening. */
  static ProxyServer of(Vertx vertx, CompiledPolicy policy, LimiterStore store, Forwarder forwarder, String name) {
    return new ProxyServer(vertx, () -> policy, store, new IdentityResolver(null, SidecarClock.SYSTEM::nanos),
        new SidecarMetrics(), forwarder, new UpstreamCooldowns(null, policy.id(), name, SidecarClock.SYSTEM),
        new ProxyServer.Limits(1 << 20, 4 << 20, 10_000, 5_000, 60_000), name, SidecarClock.SYSTEM);
  }
}
