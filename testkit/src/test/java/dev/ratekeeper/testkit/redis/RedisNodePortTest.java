package dev.ratekeeper.testkit.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ratekeeper.testkit.FreePort;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;
import org.junit.jupiter.api.Test;

/**
 * A port found free and taken by another process before redis-server binds it: a new node moves to a
 * fresh port, a restarted one does not move and says why.
 */
class RedisNodePortTest {

  @Test
  void aNodeWhosePortIsHeldByAnotherListenerStartsOnAFreshPort() throws IOException {
    AtomicInteger handedOut = new AtomicInteger();
    try (ServerSocket taken = listenerOnAFreePort();
        RedisNode node = RedisNode.start(countingFirstThenFree(taken.getLocalPort(), handedOut), null, List::of)) {
      assertThat(node.port()).isNotEqualTo(taken.getLocalPort());
      assertThat(handedOut).hasValue(2);
      assertThat(node.call("PING")).isEqualTo("PONG");
    }
  }

  @Test
  void aNodeWhosePortIsHeldByAnotherRedisDoesNotTakeThatServerForItself() {
    AtomicInteger handedOut = new AtomicInteger();
    try (RedisNode other = RedisNode.start();
        RedisNode node = RedisNode.start(countingFirstThenFree(other.port(), handedOut), null, List::of)) {
      assertThat(node.port()).isNotEqualTo(other.port());
      assertThat(handedOut).hasValue(2);
      node.call("SET", "whose", "node");
      assertThat(other.call("GET", "whose")).isNull();
    }
  }

  @Test
  void aNodeGivesUpAfterItsAttemptsWhenEveryPortIsTaken() throws IOException {
    AtomicInteger handedOut = new AtomicInteger();
    try (ServerSocket taken = listenerOnAFreePort()) {
      IntSupplier alwaysTaken = () -> {
        handedOut.incrementAndGet();
        return taken.getLocalPort();
      };
      assertThatThrownBy(() -> RedisNode.start(alwaysTaken, null, List::of))
          .hasMessageContaining("found its port taken " + RedisNode.PORT_ATTEMPTS + " times")
          .hasMessageContaining("Address already in use");
      assertThat(handedOut).hasValue(RedisNode.PORT_ATTEMPTS);
    }
  }

  @Test
  void aRestartKeepsItsPortAndFailsClearlyWhenThePortWasTakenMeanwhile() throws IOException {
    try (RedisNode node = RedisNode.start()) {
      int port = node.port();
      node.call("SET", "k", "v");
      node.kill();
      try (ServerSocket taken = new ServerSocket(port, 50, InetAddress.getLoopbackAddress())) {
        assertThatThrownBy(node::restart).hasMessageContaining("cannot come back on its port " + port)
            .hasMessageContaining("Address already in use");
      }
      node.restart();
      assertThat(node.port()).isEqualTo(port);
      assertThat(node.call("PING")).isEqualTo("PONG");
    }
  }

  /** A loopback listener that never accepts, as another program holding the port would. */
  private static ServerSocket listenerOnAFreePort() throws IOException {
    return new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
  }

  /** {@code first}, then free ports; counts how many were handed out. */
  private static IntSupplier countingFirstThenFree(int first, AtomicInteger handedOut) {
    return () -> handedOut.getAndIncrement() == 0 ? first : FreePort.find();
  }
}
