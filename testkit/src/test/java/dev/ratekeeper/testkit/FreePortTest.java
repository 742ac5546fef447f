package dev.ratekeeper.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** A start that finds its port taken is tried again on a fresh port; any other failure is not. */
class FreePortTest {

  @Test
  void aServerWhosePortWasTakenStartsOnAFreshPort() throws IOException {
    AtomicInteger handedOut = new AtomicInteger();
    try (ServerSocket taken = loopbackListener(0);
        ServerSocket started = FreePort.startOn(
            () -> handedOut.getAndIncrement() == 0 ? taken.getLocalPort() : FreePort.find(),
            FreePortTest::loopbackListener)) {
      assertThat(started.getLocalPort()).isNotEqualTo(taken.getLocalPort());
      assertThat(handedOut).hasValue(2);
    }
  }

  @Test
  void aFailureThatIsNotATakenPortIsNotRetried() {
    AtomicInteger tries = new AtomicInteger();
    assertThatThrownBy(() -> FreePort.startOn(port -> {
      tries.incrementAndGet();
      throw new IOException("Failed to start Redis service", new IOException("no such file: redis-server"));
    })).isInstanceOf(UncheckedIOException.class).hasRootCauseMessage("no such file: redis-server");
    assertThat(tries).hasValue(1);
  }

  @Test
  void aPortTakenEveryTimeGivesUpAfterItsAttempts() throws IOException {
    AtomicInteger handedOut = new AtomicInteger();
    try (ServerSocket taken = loopbackListener(0)) {
      assertThatThrownBy(() -> FreePort.startOn(() -> {
        handedOut.incrementAndGet();
        return taken.getLocalPort();
      }, FreePortTest::loopbackListener)).hasMessageContaining(FreePort.ATTEMPTS + " times in a row")
          .hasRootCauseMessage("Address already in use");
      assertThat(handedOut).hasValue(FreePort.ATTEMPTS);
    }
  }

  private static ServerSocket loopbackListener(int port) throws IOException {
    return new ServerSocket(port, 50, InetAddress.getLoopbackAddress());
  }
}
