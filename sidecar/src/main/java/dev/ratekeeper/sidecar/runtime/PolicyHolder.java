package dev.ratekeeper.sidecar.runtime;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/**
 * The revision this sidecar enforces. Each request reads it once at its start, so a switch is
 * atomic: requests in flight finish under the revision they started with.
 */
public final class PolicyHolder implements Supplier<CompiledPolicy> {
  private final AtomicReference<CompiledPolicy> current;

  public PolicyHolder(CompiledPolicy initial) {
    this.current = new AtomicReference<>(initial);
  }

  @Override
  public CompiledPolicy get() {
    return current.get();
  }

  /** Switches to {@code next}; returns whether the revision changed. */
  public boolean switchTo(CompiledPolicy next) {
    CompiledPolicy previous = current.getAndSet(next);
    return !previous.revision().equals(next.revision());
  }
}
