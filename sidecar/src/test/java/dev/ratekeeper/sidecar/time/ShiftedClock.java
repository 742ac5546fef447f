package dev.ratekeeper.sidecar.time;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The system's clocks plus a shift tests add to by hand: time runs as it really does (load over real
 * seconds) and can jump ahead (past a cooldown) without waiting. The Lua scripts follow it with
 * Redis {@code TIME} plus {@link #shiftMs()}.
 */
public final class ShiftedClock implements SidecarClock {
  /** Told after each move ({@link #whenMoved}). */
  private final List<Runnable> moves = new CopyOnWriteArrayList<>();
  private final AtomicLong shiftMs = new AtomicLong();

  public void advanceMs(long ms) {
    shiftMs.addAndGet(ms);
    moves.forEach(Runnable::run);
  }

  /** How far this clock is ahead of the system's, ms. */
  public long shiftMs() {
    return shiftMs.get();
  }

  @Override
  public Runnable whenMoved(Runnable moved) {
    moves.add(moved);
    return () -> moves.remove(moved);
  }

  @Override
  public long millis() {
    return System.currentTimeMillis() + shiftMs.get();
  }

  @Override
  public long nanos() {
    return System.nanoTime() + shiftMs.get() * 1_000_000;
  }
}
