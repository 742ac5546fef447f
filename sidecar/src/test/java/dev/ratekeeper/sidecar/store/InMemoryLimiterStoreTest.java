package dev.ratekeeper.sidecar.store;

import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import java.util.Map;
import java.util.function.LongSupplier;

/** The behaviour suite against the in-process store. */
class InMemoryLimiterStoreTest extends LimiterStoreContract {
  private InMemoryLimiterStore memory;

  @Override
  protected LimiterStore newStore(LimiterOptions options, LongSupplier clockMs) {
    memory = new InMemoryLimiterStore(options, clockMs);
    return memory;
  }

  @Override
  protected Map<String, String> snapshot() {
    return memory.snapshot();
  }
}
