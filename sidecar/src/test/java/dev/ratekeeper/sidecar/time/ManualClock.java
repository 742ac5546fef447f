package dev.ratekeeper.sidecar.time;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/** A clock tests move by hand: wall and monotonic time advance together, only when told. */
public final class ManualClock implements SidecarClock {
  /** Told after each move ({@link #whenMoved}). */
  private final List<Runnable> moves = new CopyOnWriteArrayList<>();
  private final AtomicLong nanos = new AtomicLong(1_000_000_000L);
  private final long epochMsAtStart;

  public ManualClock(long epochMs) {
    this.epochMsAtStart = epochMs;
  }

  /** Starting at the system's time now (so wall-clock readings look plausible to Redis and to headers). */
  public ManualClock() {
    this(System.currentTimeMillis());
  }

  public void advanceMs(long ms) {
    nanos.addAndGet(ms * 1_000_000);
    moves.forEach(Runnable::run);
  }

  @Override
  public Runnable whenMoved(Runnable moved) {
    moves.add(moved);
    return () -> moves.remove(moved);
  }

  @Override
  public long millis() {
    return epochMsAtStart + (nanos.get() - 1_000_000_000L) / 1_000_000;
  }

  @Override
  public long nanos() {
    return nanos.get();
  }
}
