package dev.ratekeeper.sidecar.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class AdmissionQueueTest {
  private final Vertx vertx = Vertx.vertx();

  @AfterEach
  void close() {
    vertx.close();
  }

  @Test
  void dueWaitersTryInPriorityOrderThenFirstComeFirst() {
    AdmissionQueue queue = new AdmissionQueue(vertx);
    List<String> order = new CopyOnWriteArrayList<>();
    vertx.runOnContext(v -> {
      queue.enqueue(2, 20, () -> done(order, "p2-a"));
      queue.enqueue(0, 20, () -> done(order, "p0-a"));
      queue.enqueue(1, 20, () -> done(order, "p1-a"));
      queue.enqueue(0, 20, () -> done(order, "p0-b"));
    });
    await().atMost(Duration.ofSeconds(2)).until(() -> order.size() == 4);
    assertThat(order).containsExactly("p0-a", "p0-b", "p1-a", "p2-a");
  }

  @Test
  void aWaiterTriesAgainUntilDoneAndOneWhoseClientLeftIsDropped() {
    AdmissionQueue queue = new AdmissionQueue(vertx);
    List<String> order = new CopyOnWriteArrayList<>();
    int[] tries = {0};
    queue.enqueue(0, 10, () -> {
      order.add("retrying");
      return Future.succeededFuture(++tries[0] < 3 ? 10L : -1L);
    });
    AdmissionQueue.Waiter gone = queue.enqueue(0, 10, () -> done(order, "gone"));
    gone.leave();
    await().atMost(Duration.ofSeconds(2)).until(() -> tries[0] == 3);
    // the left waiter was due with the first try, two passes ago, and was never tried
    assertThat(order).containsExactly("retrying", "retrying", "retrying");
  }

  private static Future<Long> done(List<String> order, String name) {
    order.add(name);
    return Future.succeededFuture(-1L);
  }
}
