package dev.ratekeeper.sidecar.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.sidecar.time.SidecarClock;
import org.junit.jupiter.api.Test;

/**
 * The limits endpoint's own guard (50 looks a second) counts its seconds on the monotonic clock: a
 * wall clock set back (NTP, a VM resumed) neither shuts the endpoint for as long as it went back nor
 * tells a client to wait that long.
 */
class LimitsEndpointLooksTest {
  /** Wall and monotonic time moved apart by hand. */
  static final class SteppedClock implements SidecarClock {
    long wallMs = 1_800_000_000_000L;
    long nanos;

    SteppedClock(long nanos) {
      this.nanos = nanos;
    }

    void advanceMs(long ms) {
      wallMs += ms;
      nanos += ms * 1_000_000;
    }

    @Override
    public long millis() {
      return wallMs;
    }

    @Override
    public long nanos() {
      return nanos;
    }
  }

  @Test
  void aWallClockSetBackDoesNotShutTheEndpoint() {
    SteppedClock clock = new SteppedClock(5_000_000_000L);
    LimitsEndpoint limits = new LimitsEndpoint(null, null, clock);
    for (int i = 0; i < LimitsEndpoint.PER_SECOND; i++) {
      assertThat(limits.waitMs()).as("look %d", i).isZero();
    }
    assertThat(limits.waitMs()).isBetween(1L, 1_000L);
    clock.wallMs -= 3_600_000; // the wall clock goes back an hour
    clock.advanceMs(1_000);
    assertThat(limits.waitMs()).as("the next second's first look").isZero();
    for (int i = 1; i < LimitsEndpoint.PER_SECOND; i++) {
      limits.waitMs();
    }
    assertThat(limits.waitMs()).as("told to wait at most the rest of the second").isBetween(1L, 1_000L);
  }

  @Test
  void theFirstLooksAreAnsweredWhateverTheMonotonicClockReads() {
    for (long nanos : new long[] {Long.MIN_VALUE / 2, -1, 0, 999_999_999L, Long.MAX_VALUE / 2}) {
      LimitsEndpoint limits = new LimitsEndpoint(null, null, new SteppedClock(nanos));
      for (int i = 0; i < LimitsEndpoint.PER_SECOND; i++) {
        assertThat(limits.waitMs()).as("look %d at %d ns", i, nanos).isZero();
      }
      assertThat(limits.waitMs()).isPositive();
    }
  }
}
