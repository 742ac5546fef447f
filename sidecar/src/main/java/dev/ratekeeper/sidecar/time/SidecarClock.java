package dev.ratekeeper.sidecar.time;

import java.time.Instant;

/**
 * The sidecar's sense of time, injected from its entry point ({@code SidecarMain} passes
 * {@link #SYSTEM}); tests pass a clock they move by hand, so cooldowns, queue deadlines and
 * heartbeats are tested without waiting. Limits and the shared cooldowns kept in Redis are timed by
 * the Lua scripts (Redis {@code TIME}), not by this clock; tests that move this clock give the
 * scripts its time too ({@code RedisTime}, passed to {@code Sidecar.start}), so both move together.
 */
public interface SidecarClock {
  /** Wall-clock time, ms since the epoch (heartbeat scores, provider reset headers, queue deadlines). */
  long millis();

  /** A monotonic reading in ns, for durations only (cooldown ends, latency metrics). */
  long nanos();

  default Instant instant() {
    return Instant.ofEpochMilli(millis());
  }

  /**
   * Calls {@code moved} each time this clock is moved by hand, after the move; returns what stops
   * that. The system's clocks only pass, and call nothing: what waits for a moment on this clock
   * (the admission queue) sets a timer for the time passing, and follows a clock moved by hand
   * through this, so that its waits end when the clock is moved and not after real time.
   */
  default Runnable whenMoved(Runnable moved) {
    return () -> {};
  }

  /** The system's clocks. */
  SidecarClock SYSTEM = new SidecarClock() {
    @Override
    public long millis() {
      return System.currentTimeMillis();
    }

    @Override
    public long nanos() {
      return System.nanoTime();
    }
  };
}
