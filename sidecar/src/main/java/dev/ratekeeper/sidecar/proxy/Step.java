package dev.ratekeeper.sidecar.proxy;

/**
 * What a stage of the request pipeline returns: the value the next stage works on, or the
 * {@link Outcome} that ends the request.
 */
sealed interface Step<T> {
  record Next<T>(T value) implements Step<T> {}

  record Stop<T>(Outcome outcome) implements Step<T> {}

  static <T> Step<T> next(T value) {
    return new Next<>(value);
  }

  static <T> Step<T> stop(Outcome outcome) {
    return new Stop<>(outcome);
  }
}
