package dev.ratekeeper.sidecar.upstream;

import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.policy.keys.RedisKeys;
import dev.ratekeeper.sidecar.store.LuaScript;
import dev.ratekeeper.sidecar.store.RedisTime;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisAPI;
import io.vertx.redis.client.Response;
import dev.ratekeeper.sidecar.time.SidecarClock;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The shared cooldowns after the provider's 429 or 529, with a circuit breaker, each kept per
 * {@link CooldownScope} (upstream, credential, and the model when the provider says the limit is the
 * model's): the methods take a scope's {@link CooldownScope#key() key}.
 *
 * <p>The sidecar that sees the provider's throttle runs {@code cooldown.lua} (start or keep the
 * cooldown; a new episode in a row doubles it, capped at 60 s) and announces it on the policy's
 * cooldown channel; every sidecar keeps the announced cooldowns in memory, so checking one costs no
 * Redis round trip. When a cooldown ends after repeated episodes the breaker is half-open: one
 * sidecar wins the probe token and sends one request; its success closes the breaker for everyone,
 * another throttle starts a longer cooldown. Without Redis the same logic runs for this process only.
 *
 * <p>Threading: every proxy event loop calls in. A scope's cooldown and strike count are one
 * immutable value, replaced by compare-and-set, so throttles seen on several loops at once make one
 * episode with the longest cooldown asked for, and a reader never sees one without the other.
 */
public final class UpstreamCooldowns {
  private static final System.Logger LOG = System.getLogger(UpstreamCooldowns.class.getName());
  /** Consecutive episodes are remembered this long. */
  static final long STRIKE_MEMORY_MS = 600_000;
  /** How long a probe may take before another sidecar may probe. */
  static final long PROBE_TTL_MS = 30_000;
  /** A provider quota with this many percent or less left pauses the fleet until it resets. */
  public static final int PREEMPTIVE_RESERVE_PERCENT = 2;
  /** What a request that lost the probe race is told to wait. */
  public static final long HALF_OPEN_RETRY_MS = 1_000;

  private final Redis client;
  private final RedisAPI redis;
  private final RedisKeys keys;
  private final String sidecarId;
  private final LuaScript script = LuaScript.standalone("cooldown");
  private final Map<String, State> states = new ConcurrentHashMap<>();
  private final SidecarClock clock;
  /** The clock {@code cooldown.lua} decides by: Redis {@code TIME}, or the clock a test moves. */
  private final RedisTime scriptTime;

  /** What the proxy should do with a request for an upstream. */
  public sealed interface Verdict permits Closed, Open, HalfOpen {}

  /** Call the upstream. */
  public record Closed() implements Verdict {}

  /** Answer 429 {@code upstream.cooldown} for {@code remainingMs}. */
  public record Open(long remainingMs) implements Verdict {}

  /** The cooldown ended after repeated throttles: only the probe may call. */
  public record HalfOpen() implements Verdict {}

  private static final Closed CLOSED = new Closed();

  /**
   * A half-open probe this sidecar won for one request: {@link #release} hands it on when that request
   * ends without the provider's answer (refused before it was sent, the provider unreachable, the
   * client gone), so the next request may probe instead of the breaker staying half-open.
   */
  public record Probe(String scope, String token) {}

  /** A probe held in this process (no Redis): whose, and since when ({@link SidecarClock#nanos()}). */
  private record Held(String token, long sinceNanos) {}

  /**
   * A scope's cooldown: when it ends ({@link SidecarClock#nanos()}) and the episodes in a row so far.
   * One value, so the two change together and are read together.
   */
  private record Window(long untilNanos, int strikes) {
    static final Window NONE = new Window(Long.MIN_VALUE, 0);

    /** Milliseconds left at {@code now} (negative: ended). */
    long remainingMs(long now) {
      return untilNanos == Long.MIN_VALUE ? -1 : (untilNanos - now) / 1_000_000;
    }

    boolean forgettable(long now) {
      return strikes == 0 && remainingMs(now) <= 0;
    }
  }

  /**
   * A scope's state. Any proxy event loop changes it: the window only by compare-and-set of a whole
   * new value, so concurrent throttles never lose an update (a strike, a longer cooldown).
   */
  private static final class State {
    final java.util.concurrent.atomic.AtomicReference<Window> window =
        new java.util.concurrent.atomic.AtomicReference<>(Window.NONE);
    final java.util.concurrent.atomic.AtomicReference<Held> probe = new java.util.concurrent.atomic.AtomicReference<>();
  }

  private final java.util.concurrent.atomic.AtomicLong probes = new java.util.concurrent.atomic.AtomicLong();

  /** Shared cooldowns on Redis' clock ({@link RedisTime#server()}); {@code redis} null: this process only. */
  public UpstreamCooldowns(Redis redis, PolicyId policy, String sidecarId, SidecarClock clock) {
    this(redis, policy, sidecarId, clock, RedisTime.server());
  }

  /**
   * @param redis null: this process only
   * @param clock when cooldowns end here (announced lengths count from their arrival)
   * @param scriptTime when the shared cooldowns kept in Redis end: Redis {@code TIME} in production;
   *     tests that move {@code clock} pin it to {@code clock}, so that moving it ends those too
   */
  public UpstreamCooldowns(Redis redis, PolicyId policy, String sidecarId, SidecarClock clock, RedisTime scriptTime) {
    this.clock = clock;
    this.scriptTime = scriptTime;
    this.client = redis;
    this.redis = redis == null ? null : RedisAPI.api(redis);
    this.keys = new RedisKeys(policy);
    this.sidecarId = sidecarId;
  }

  /** The channel announcements arrive on ({@link #onAnnouncement}). */
  public String channel() {
    return keys.cooldownChannel();
  }

  /** At most this many scopes are remembered; past it, ended cooldowns are forgotten first. */
  static final int MAX_SCOPES = 10_000;

  public Verdict check(String upstream) {
    State state = states.get(upstream);
    if (state == null) {
      return CLOSED;
    }
    Window window = state.window.get();
    long remaining = window.remainingMs(clock.nanos());
    if (remaining > 0) {
      return new Open(remaining);
    }
    return window.strikes() > 1 ? new HalfOpen() : CLOSED;
  }

  /**
   * Half-open: completes with the probe when this request won it and may call the upstream, null when
   * another request holds it. A probe not released is given up after {@value #PROBE_TTL_MS} ms.
   */
  public Future<Probe> tryProbe(String upstream) {
    String token = sidecarId + ":" + probes.incrementAndGet();
    if (redis == null) {
      State state = states.get(upstream);
      if (state == null) {
        return Future.succeededFuture();
      }
      long now = clock.nanos();
      Held held = state.probe.get();
      boolean free = held == null || now - held.sinceNanos() >= PROBE_TTL_MS * 1_000_000;
      return Future.succeededFuture(free && state.probe.compareAndSet(held, new Held(token, now))
          ? new Probe(upstream, token) : null);
    }
    return redis.set(List.of(keys.cooldownProbe(upstream), token, "NX", "PX", Long.toString(PROBE_TTL_MS)))
        .map(reply -> reply != null ? new Probe(upstream, token) : null);
  }

  /**
   * The request that won {@code probe} ended; if the probe is still its own (the provider's answer
   * did not already close the breaker or start a cooldown), the next request may probe.
   */
  public Future<Void> release(Probe probe) {
    if (redis == null) {
      State state = states.get(probe.scope());
      if (state != null) {
        state.probe.updateAndGet(held -> held != null && held.token().equals(probe.token()) ? null : held);
      }
      return Future.succeededFuture();
    }
    return callScript(probe.scope(), "x", probe.token()).mapEmpty();
  }

  /** The provider throttled {@code upstream}: start or keep the shared cooldown and tell every sidecar. */
  public Future<Void> onThrottle(String upstream, MultiMap headers) {
    return start(upstream, CooldownLength.fromHeaders(headers, clock.instant()), true);
  }

  /**
   * Pre-emptive throttle: a normal answer whose rate-limit headers show the provider's quota nearly
   * spent ({@value #PREEMPTIVE_RESERVE_PERCENT} % or less left) pauses every sidecar until that quota
   * resets, so the fleet stops just before the provider starts answering 429. No strike is counted.
   */
  public Future<Void> onAnswer(String upstream, MultiMap headers) {
    long ms = CooldownLength.untilNearlySpentResets(headers, clock.instant(), PREEMPTIVE_RESERVE_PERCENT);
    if (ms <= 0 || check(upstream) instanceof Open open && open.remainingMs() >= ms) {
      return Future.succeededFuture();
    }
    LOG.log(System.Logger.Level.INFO, "upstream " + upstream + ": the provider's quota is nearly spent; pausing "
        + ms + " ms until it resets");
    return start(upstream, ms, false);
  }

  private Future<Void> start(String upstream, long base, boolean strike) {
    State state = states.computeIfAbsent(upstream, u -> new State());
    long now = clock.nanos();
    if (redis == null) {
      // one episode however many loops see the throttle at once: the first counts the strike, the
      // others (the cooldown running) only lengthen it
      state.window.updateAndGet(w -> {
        long previousMs = w.remainingMs(now);
        if (!strike || previousMs > 0) {
          return new Window(now + Math.max(previousMs, base) * 1_000_000, w.strikes());
        }
        return new Window(now + Math.min(CooldownLength.CAP_MS, base << Math.min(6, w.strikes())) * 1_000_000,
            w.strikes() + 1);
      });
      state.probe.set(null);
      return Future.succeededFuture();
    }
    // this sidecar holds back at once; the shared length (maybe longer) follows from the script
    long until = now + base * 1_000_000;
    state.window.updateAndGet(w -> w.untilNanos() != Long.MIN_VALUE && w.untilNanos() - until >= 0 ? w
        : new Window(until, w.strikes()));
    return callScript(upstream, strike ? "1" : "0", Long.toString(base))
        .compose(reply -> {
          long remaining = reply.get(0).toLong();
          int strikes = reply.get(1).toInteger();
          apply(upstream, remaining, strikes);
          if (strike) {
            LOG.log(System.Logger.Level.INFO, "upstream " + upstream + " throttled by the provider: cooldown "
                + remaining + " ms for every sidecar (episode " + strikes + ")");
          }
          return redis.publish(keys.cooldownChannel(), upstream + " " + remaining + " " + strikes).mapEmpty();
        });
  }

  /**
   * The upstream answered normally a request sent at {@code sentNanos}: when that request was sent
   * after the cooldown ended (the probe, or the first traffic after it), the breaker closes for
   * every sidecar. Answers to requests sent before or during a cooldown change nothing.
   */
  public Future<Void> onSuccess(String upstream, long sentNanos) {
    State state = states.get(upstream);
    if (state == null) {
      return Future.succeededFuture();
    }
    // closed by compare-and-set, judged on the value replaced: a throttle seen meanwhile on another loop
    // started a cooldown after this request was sent, which stands (as if it had come after this success)
    while (true) {
      Window window = state.window.get();
      if (window.strikes() == 0 || sentNanos - window.untilNanos() < 0) {
        return Future.succeededFuture();
      }
      if (state.window.compareAndSet(window, new Window(clock.nanos(), 0))) {
        break;
      }
    }
    state.probe.set(null);
    if (redis == null) {
      return Future.succeededFuture();
    }
    return redis.del(List.of(keys.cooldownStrikes(upstream), keys.cooldownProbe(upstream)))
        .compose(r -> redis.publish(keys.cooldownChannel(), upstream + " 0 0")).mapEmpty();
  }

  /** An announcement from another sidecar: {@code <scope key> <remaining ms> <strikes>}. */
  public void onAnnouncement(String message) {
    String[] parts = message.trim().split(" ");
    if (parts.length == 3 && parts[0].length() <= 512) {
      try {
        apply(parts[0], Long.parseLong(parts[1]), Integer.parseInt(parts[2]));
      } catch (NumberFormatException ignored) {
        // not ours
      }
    }
  }

  /**
   * Reads cooldowns already running (a sidecar that starts, or missed announcements): the
   * credential-wide scopes of the sidecar-held key and of calls without a key, for each of
   * {@code upstreams}, and every scope this sidecar knows with a cooldown or strikes. Scopes of
   * client keys and models this sidecar has not seen arrive by announcement.
   */
  public Future<Void> refresh(List<String> upstreams) {
    if (redis == null) {
      return Future.succeededFuture();
    }
    java.util.Set<String> scopes = new java.util.LinkedHashSet<>();
    for (String upstream : upstreams) {
      scopes.add(upstream + "~" + CooldownScope.SIDECAR);
      scopes.add(upstream + "~" + CooldownScope.NONE);
    }
    long now = clock.nanos();
    states.forEach((scope, state) -> {
      if (scopes.size() < 256 && !state.window.get().forgettable(now)) {
        scopes.add(scope);
      }
    });
    Future<Void> all = Future.succeededFuture();
    for (String upstream : scopes) {
      all = all.compose(v -> callScript(upstream, "r", "0").map(reply -> {
        long remaining = reply.get(0).toLong();
        int n = reply.get(1).toInteger();
        if (remaining > 0 || n > 0 || states.containsKey(upstream)) {
          apply(upstream, remaining, n);
        }
        return null;
      }));
    }
    return all;
  }

  /**
   * {@code cooldown.lua} on one scope: {@code what} is 1 (a throttle), 0 (a pause), r (read only) or
   * x (release a probe); {@code word}: the base length in ms, or the probe's token.
   */
  private Future<Response> callScript(String upstream, String what, String word) {
    return script.call(client::send, List.of(keys.cooldown(upstream), keys.cooldownStrikes(upstream),
            keys.cooldownProbe(upstream)),
        List.of(scriptTime.mode(), scriptTime.value(), what, word,
            Long.toString(CooldownLength.CAP_MS), Long.toString(STRIKE_MEMORY_MS)));
  }

  /**
   * Sets a scope's cooldown as Redis or another sidecar told it: that is the shared state, so it
   * replaces this sidecar's.
   */
  private void apply(String upstream, long remainingMs, int strikes) {
    if (states.size() >= MAX_SCOPES && !states.containsKey(upstream)) {
      long now = clock.nanos();
      states.entrySet().removeIf(e -> e.getValue().window.get().forgettable(now));
      if (states.size() >= MAX_SCOPES && remainingMs <= 0) {
        return;
      }
    }
    State state = states.computeIfAbsent(upstream, u -> new State());
    state.probe.set(null);
    long now = clock.nanos();
    if (remainingMs > 0) {
      state.window.set(new Window(now + remainingMs * 1_000_000, strikes));
      return;
    }
    // no cooldown running: one that already ended here keeps its end, so that a success sent after it
    // (the half-open probe, still on its way when this state was read) still closes the breaker
    state.window.updateAndGet(w -> new Window(w.untilNanos() != Long.MIN_VALUE && w.untilNanos() - now <= 0
        ? w.untilNanos() : now, strikes));
  }
}
