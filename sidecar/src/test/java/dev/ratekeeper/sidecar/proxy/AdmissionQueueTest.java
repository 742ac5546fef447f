package dev.ratekeeper.sidecar.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.ratekeeper.sidecar.time.ManualClock;
import dev.ratekeeper.sidecar.time.SidecarClock;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
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
    AdmissionQueue queue = new AdmissionQueue(vertx, SidecarClock.SYSTEM);
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
    AdmissionQueue queue = new AdmissionQueue(vertx, SidecarClock.SYSTEM);
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

  @Test
  void aWaitingBatchCallGainsALevelPerAgingStepAndIsNotStarvedByFreshInteractiveOnes() {
    AtomicLong clock = new AtomicLong(0);
    AdmissionQueue queue = new AdmissionQueue(vertx, movedQuietly(clock));
    List<String> order = new CopyOnWriteArrayList<>();
    // a batch call (tier 0 + 10) that has waited 10 aging steps ties with a fresh interactive call: first come first
    queue.enqueue(AdmissionQueue.BATCH_OFFSET, 50, () -> done(order, "batch, waited 1 s"));
    clock.set(10 * AdmissionQueue.AGING_MS);
    queue.enqueue(0, 0, () -> done(order, "interactive, fresh"));
    await().atMost(Duration.ofSeconds(2)).until(() -> order.size() == 2);
    assertThat(order).containsExactly("batch, waited 1 s", "interactive, fresh");
  }

  @Test
  void aBatchCallThatWaitedLessStillGoesAfterInteractiveOnes() {
    AtomicLong clock = new AtomicLong(0);
    AdmissionQueue queue = new AdmissionQueue(vertx, movedQuietly(clock));
    List<String> order = new CopyOnWriteArrayList<>();
    queue.enqueue(AdmissionQueue.BATCH_OFFSET, 50, () -> done(order, "batch, waited 0.5 s"));
    clock.set(5 * AdmissionQueue.AGING_MS);
    queue.enqueue(0, 0, () -> done(order, "interactive, fresh"));
    await().atMost(Duration.ofSeconds(2)).until(() -> order.size() == 2);
    assertThat(order).containsExactly("interactive, fresh", "batch, waited 0.5 s");
  }

  @Test
  void aWaitersTurnComesWhenTheClockIsMovedNotAfterRealTime() {
    ManualClock clock = new ManualClock(0);
    AdmissionQueue queue = new AdmissionQueue(vertx, clock);
    List<String> order = new CopyOnWriteArrayList<>();
    // a minute's wait on the clock: tried when the clock has moved a minute, at once
    queue.enqueue(0, 60_000, () -> done(order, "waited a minute"));
    await().atMost(Duration.ofSeconds(2)).until(() -> queue.size() == 1);
    clock.advanceMs(59_000);
    clock.advanceMs(1_000);
    await().atMost(Duration.ofSeconds(2)).until(() -> queue.size() == 0);
    assertThat(order).containsExactly("waited a minute");
    queue.close();
  }

  @Test
  void aCallMayMarkItselfLessImportantThanItsTierNeverMore() {
    assertThat(Admission.markedPriority("interactive", 2)).isEqualTo(2);
    assertThat(Admission.markedPriority("Batch", 2)).isEqualTo(2 + AdmissionQueue.BATCH_OFFSET);
    assertThat(Admission.markedPriority("7", 2)).isEqualTo(7);
    assertThat(Admission.markedPriority("0", 2)).as("not above the tier").isEqualTo(2);
    assertThat(Admission.markedPriority("1001", 2)).isNull();
    assertThat(Admission.markedPriority("-1", 2)).isNull();
    assertThat(Admission.markedPriority("urgent", 2)).isNull();
    assertThat(Admission.markedPriority("", 2)).isNull();
  }

  /**
   * A clock at {@code ms} that does not wake the queue when moved: both waiters are due by the time the
   * queue's timer (50 ms of real time) fires, and are ranked together.
   */
  private static SidecarClock movedQuietly(AtomicLong ms) {
    return new SidecarClock() {
      @Override
      public long millis() {
        return ms.get();
      }

      @Override
      public long nanos() {
        return ms.get() * 1_000_000;
      }
    };
  }

  private static Future<Long> done(List<String> order, String name) {
    order.add(name);
    return Future.succeededFuture(-1L);
  }
}
