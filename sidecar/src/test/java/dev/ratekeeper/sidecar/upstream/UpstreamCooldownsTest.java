package dev.ratekeeper.sidecar.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.sidecar.time.ManualClock;
import io.vertx.core.MultiMap;
import org.junit.jupiter.api.Test;

/**
 * The cooldown and circuit breaker of one sidecar (no Redis), on a clock moved by hand: a cooldown
 * ends exactly when the provider said, a second episode in a row doubles it and ends half-open with
 * one probe, and a reset named by the provider's headers is read on the injected clock.
 */
class UpstreamCooldownsTest {
  private final ManualClock clock = new ManualClock(1_800_000_000_000L);
  private final UpstreamCooldowns cooldowns = new UpstreamCooldowns(null, new PolicyId("ns", "p"), "s1", clock);

  private static MultiMap retryAfterMs(long ms) {
    return MultiMap.caseInsensitiveMultiMap().add("retry-after-ms", Long.toString(ms));
  }

  @Test
  void aCooldownEndsExactlyWhenTheProviderSaid() {
    cooldowns.onThrottle("anthropic", retryAfterMs(2_000));
    assertThat(cooldowns.check("anthropic")).isEqualTo(new UpstreamCooldowns.Open(2_000));
    clock.advanceMs(1_999);
    assertThat(cooldowns.check("anthropic")).isEqualTo(new UpstreamCooldowns.Open(1));
    clock.advanceMs(1);
    assertThat(cooldowns.check("anthropic")).isInstanceOf(UpstreamCooldowns.Closed.class);
    assertThat(cooldowns.check("openai")).as("other scopes never cooled").isInstanceOf(UpstreamCooldowns.Closed.class);
  }

  @Test
  void aSecondEpisodeInARowIsTwiceAsLongAndEndsWithOneProbe() {
    cooldowns.onThrottle("anthropic", retryAfterMs(300));
    clock.advanceMs(300);
    long sentAfterFirst = clock.nanos();
    cooldowns.onThrottle("anthropic", retryAfterMs(300)); // the first call after it is throttled again
    assertThat(cooldowns.check("anthropic")).isEqualTo(new UpstreamCooldowns.Open(600));
    clock.advanceMs(599);
    assertThat(cooldowns.check("anthropic")).isInstanceOf(UpstreamCooldowns.Open.class);
    clock.advanceMs(1);
    assertThat(cooldowns.check("anthropic")).isInstanceOf(UpstreamCooldowns.HalfOpen.class);
    assertThat(cooldowns.tryProbe("anthropic").result()).as("the first request probes").isNotNull();
    assertThat(cooldowns.tryProbe("anthropic").result()).as("one probe at a time").isNull();
    // an answer to a request sent during the cooldown changes nothing; the probe's success closes it
    cooldowns.onSuccess("anthropic", sentAfterFirst);
    assertThat(cooldowns.check("anthropic")).isInstanceOf(UpstreamCooldowns.HalfOpen.class);
    cooldowns.onSuccess("anthropic", clock.nanos());
    assertThat(cooldowns.check("anthropic")).isInstanceOf(UpstreamCooldowns.Closed.class);
  }

  @Test
  void aProbeThatEndsWithoutTheProvidersAnswerIsHandedOn() {
    cooldowns.onThrottle("anthropic", retryAfterMs(300));
    clock.advanceMs(300);
    cooldowns.onThrottle("anthropic", retryAfterMs(300));
    clock.advanceMs(600);
    assertThat(cooldowns.check("anthropic")).isInstanceOf(UpstreamCooldowns.HalfOpen.class);
    UpstreamCooldowns.Probe first = cooldowns.tryProbe("anthropic").result();
    assertThat(first).isNotNull();
    assertThat(cooldowns.tryProbe("anthropic").result()).isNull();
    // the probe's request was refused before it was sent: the next request probes
    cooldowns.release(first);
    UpstreamCooldowns.Probe second = cooldowns.tryProbe("anthropic").result();
    assertThat(second).as("handed on").isNotNull();
    // releasing a probe that is no longer its own changes nothing
    cooldowns.release(first);
    assertThat(cooldowns.tryProbe("anthropic").result()).as("still held by the second").isNull();
    // a probe never released is given up after its time, as its key in Redis expires
    clock.advanceMs(UpstreamCooldowns.PROBE_TTL_MS - 1);
    assertThat(cooldowns.tryProbe("anthropic").result()).isNull();
    clock.advanceMs(1);
    assertThat(cooldowns.tryProbe("anthropic").result()).as("given up after %d ms", UpstreamCooldowns.PROBE_TTL_MS)
        .isNotNull();
    assertThat(cooldowns.check("anthropic")).isInstanceOf(UpstreamCooldowns.HalfOpen.class);
  }

  @Test
  void aNearlySpentProviderQuotaPausesUntilItsResetOnTheInjectedClock() {
    MultiMap headers = MultiMap.caseInsensitiveMultiMap()
        .add("anthropic-ratelimit-requests-limit", "1000")
        .add("anthropic-ratelimit-requests-remaining", "10")
        .add("anthropic-ratelimit-requests-reset", clock.instant().plusMillis(1_500).toString());
    cooldowns.onAnswer("anthropic", headers);
    assertThat(cooldowns.check("anthropic")).isEqualTo(new UpstreamCooldowns.Open(1_500));
    clock.advanceMs(1_500);
    assertThat(cooldowns.check("anthropic")).as("a pause is no strike: no half-open after it")
        .isInstanceOf(UpstreamCooldowns.Closed.class);
  }

  /**
   * Event loops on every core (2 to 4) see the provider throttle the same scope at the same instant, over and over:
   * however their updates interleave, each scope ends with the longest cooldown asked for and one
   * strike per episode, so the next episode is exactly twice as long and ends half-open.
   */
  @Test
  void throttlesSeenAtOnceOnManyThreadsMakeOneEpisodeWithTheLongestCooldown() throws Exception {
    int threads = Math.max(2, Math.min(4, Runtime.getRuntime().availableProcessors()));
    int scopes = 5_000;
    // episode 1: thread i is told (i + 1) x 100 ms
    throttleTogether(threads, scopes, i -> 100L * (i + 1));
    for (int s = 0; s < scopes; s++) {
      assertThat(cooldowns.check("scope-" + s)).as("scope %d", s).isEqualTo(new UpstreamCooldowns.Open(100L * threads));
    }
    clock.advanceMs(100L * threads);
    for (int s = 0; s < scopes; s++) {
      assertThat(cooldowns.check("scope-" + s)).as("scope %d: one strike, no half-open", s)
          .isInstanceOf(UpstreamCooldowns.Closed.class);
    }
    // episode 2 right after: every thread told 300 ms, doubled once for the second strike
    throttleTogether(threads, scopes, i -> 300L);
    for (int s = 0; s < scopes; s++) {
      assertThat(cooldowns.check("scope-" + s)).as("scope %d", s).isEqualTo(new UpstreamCooldowns.Open(600));
    }
    clock.advanceMs(600);
    for (int s = 0; s < scopes; s++) {
      assertThat(cooldowns.check("scope-" + s)).as("scope %d: two strikes", s)
          .isInstanceOf(UpstreamCooldowns.HalfOpen.class);
    }
  }

  /** Each of {@code threads} threads throttles every scope, all of them the same scope at the same time. */
  private void throttleTogether(int threads, int scopes, java.util.function.IntToLongFunction retryAfterMs)
      throws Exception {
    // a spinning barrier: the threads leave it within nanoseconds of each other, as loops on their own cores do
    java.util.concurrent.atomic.AtomicInteger arrived = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(threads);
    try {
      java.util.List<java.util.concurrent.Future<?>> done = new java.util.ArrayList<>();
      for (int t = 0; t < threads; t++) {
        MultiMap headers = retryAfterMs(retryAfterMs.applyAsLong(t));
        done.add(pool.submit(() -> {
          for (int s = 0; s < scopes; s++) {
            arrived.incrementAndGet();
            while (arrived.get() < (s + 1) * threads) {
              Thread.onSpinWait();
            }
            cooldowns.onThrottle("scope-" + s, headers);
          }
          return null;
        }));
      }
      for (java.util.concurrent.Future<?> f : done) {
        f.get(30, java.util.concurrent.TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
    }
  }

  /**
   * The probe's success and a throttle of a call sent beside it, seen on two event loops at once: the
   * throttle lands between the success reading the scope's cooldown and closing it. Either order alone
   * leaves a cooldown (the throttle after the success starts one; before it, the success, sent before
   * that cooldown's end, changes nothing), so the two together must too: the success closes the breaker
   * only if the cooldown it read is still the scope's.
   */
  @Test
  void aThrottleSeenWhileTheProbesSuccessClosesTheBreakerIsNotLost() {
    java.util.concurrent.atomic.AtomicReference<Runnable> onNextNanos = new java.util.concurrent.atomic.AtomicReference<>();
    dev.ratekeeper.sidecar.time.SidecarClock racing = new dev.ratekeeper.sidecar.time.SidecarClock() {
      @Override
      public long millis() {
        return clock.millis();
      }

      @Override
      public long nanos() {
        Runnable other = onNextNanos.getAndSet(null);
        if (other != null) {
          other.run(); // the other event loop, between this one's read and its write
        }
        return clock.nanos();
      }
    };
    UpstreamCooldowns shared = new UpstreamCooldowns(null, new PolicyId("ns", "p"), "s1", racing);
    shared.onThrottle("anthropic", retryAfterMs(300));
    clock.advanceMs(300);
    shared.onThrottle("anthropic", retryAfterMs(300));
    clock.advanceMs(600);
    assertThat(shared.check("anthropic")).isInstanceOf(UpstreamCooldowns.HalfOpen.class);
    long probeSent = clock.nanos();
    onNextNanos.set(() -> shared.onThrottle("anthropic", retryAfterMs(300)));
    shared.onSuccess("anthropic", probeSent);
    assertThat(onNextNanos.get()).as("the throttle ran inside onSuccess").isNull();
    assertThat(shared.check("anthropic")).as("the throttle's cooldown stands").isInstanceOf(UpstreamCooldowns.Open.class);
  }

  /**
   * While the half-open probe is on its way, the shared state is read again (the periodic refresh, or
   * an announcement): no cooldown running, the same strikes. That says nothing new, so the probe's
   * success, sent after the cooldown ended, still closes the breaker; were the end moved to the moment
   * of the read, the success would look sent during the cooldown, the breaker would stay half-open and
   * the probe (its key in Redis) would hold every sidecar back until it expires.
   */
  @Test
  void aReadOfTheSharedStateWhileTheProbeIsOnItsWayDoesNotSwallowItsSuccess() {
    cooldowns.onThrottle("anthropic", retryAfterMs(300));
    clock.advanceMs(300);
    cooldowns.onThrottle("anthropic", retryAfterMs(300));
    clock.advanceMs(600);
    assertThat(cooldowns.check("anthropic")).isInstanceOf(UpstreamCooldowns.HalfOpen.class);
    long probeSent = clock.nanos();
    assertThat(cooldowns.tryProbe("anthropic").result()).isNotNull();
    clock.advanceMs(5);
    cooldowns.onAnnouncement("anthropic 0 2"); // as refresh() applies cooldown.lua's read: none running, 2 strikes
    assertThat(cooldowns.check("anthropic")).isInstanceOf(UpstreamCooldowns.HalfOpen.class);
    clock.advanceMs(5);
    cooldowns.onSuccess("anthropic", probeSent);
    assertThat(cooldowns.check("anthropic")).as("the probe's success closes the breaker")
        .isInstanceOf(UpstreamCooldowns.Closed.class);
  }
}
