package dev.ratekeeper.e2e.fleet;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.e2e.fleet.Fleet.Sidecar;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * After a Redis outage the fleet goes back to the limit, not into a blackout. Two sidecar processes,
 * a global rate of 3,000/min (50/s, burst 20), a steady 100 calls/s over 50 users for 10 s, Redis
 * (AOF) killed with SIGKILL at 3 s and restarted at 6 s. Per failure mode: the answers per half
 * second, no half second after Redis is back that refuses everything, the admitted count within a
 * stated tolerance of what the policy allows, and the global budget holding the cost of every call
 * that was served (AOF always: exactly; everysec: at most about a second of it lost).
 */
class OutageRecoveryIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: %s}
      spec:
        defaultTier: std
        tiers:
        - name: std
          requests: {perMinute: 1000000, burst: 1000000}
        models:
        - name: claude-haiku-4-5
          pricing: {inputPerMillion: "1.00", outputPerMillion: "5.00"}
        global:
          requests: {perMinute: 3000, burst: 20}
          budget: {usd: "1000.00", period: Monthly}
        upstreams:
        - {name: anthropic, url: "http://127.0.0.1:%%d", format: anthropic}
        onStoreUnavailable: %s
      """;
  static final int RUN_MS = 10_000;
  static final int KILL_AT_MS = 3_000;
  static final int RESTART_AT_MS = 6_000;
  /** What the policy allows over the run: the burst plus 50/s. */
  static final int ALLOWED = 20 + 50 * RUN_MS / 1_000;

  @Test
  void localFallbackHandsOverWithoutABlackoutAndLosesNoSpend() throws Exception {
    Run run = run("LocalFallback", "always");
    // limit ÷ 2 per sidecar while Redis is away; Redis after: the whole run stays near the limit
    assertThat(run.admitted()).as("admitted over the run vs %d allowed", ALLOWED)
        .isBetween((int) (ALLOWED * 0.9), (int) (ALLOWED * 1.1));
    assertThat(run.spend()).as("AOF always: every served call's cost is in the global budget")
        .isEqualTo(run.costOfOne() * run.served());
  }

  @Test
  void failOpenRecoversWithoutABlackoutAndCountsTheOutageSpend() throws Exception {
    Run run = run("FailOpen", "everysec");
    // what Redis decided stays within the limit over the whole run; what FailOpen let through while
    // Redis was away is told apart by its answers, which carry no remaining-requests header (a loaded
    // machine may decide a call sent before the kill only after it)
    assertThat(run.decidedByLimits()).as("admitted by the limits over the run vs %d allowed", ALLOWED)
        .isBetween((int) ((20 + 50 * (RUN_MS - (RESTART_AT_MS - KILL_AT_MS)) / 1_000) * 0.6), (int) (ALLOWED * 1.1));
    assertThat(run.admitted() - run.decidedByLimits()).as("unmetered while Redis was away").isPositive();
    long lost = run.costOfOne() * run.served() - run.spend();
    System.out.printf("FailOpen, AOF everysec: %d of %d micro-dollars lost (%d calls' worth)%n", lost,
        run.costOfOne() * run.served(), lost / run.costOfOne());
    assertThat(lost).as("everysec: at most about a second of spend (100 calls) lost")
        .isBetween(0L, run.costOfOne() * 100);
  }

  record Run(int admitted, int decidedByLimits, int served, long spend, long costOfOne) {}

  private Run run(String mode, String appendfsync) throws Exception {
    String name = "outage-" + mode.toLowerCase();
    try (Fleet fleet = new Fleet().startRedis(appendfsync).startStub()) {
      List<Sidecar> sidecars = fleet.startSidecars(name, 2, POLICY.formatted(name, mode));
      String budgetKey = "rk:{default/" + name + "}:g:budget";
      assertThat(Fleet.call(sidecars.get(0).proxyPort(), "warm-up")).isEqualTo(200);
      long costOfOne = budget(fleet, budgetKey);
      assertThat(costOfOne).isPositive();
      Thread.sleep(1_000); // the global bucket refills its burst after the warm-up

      record Answer(long sentMs, int status, boolean metered) {}
      ConcurrentLinkedQueue<Answer> answers = new ConcurrentLinkedQueue<>();
      ExecutorService callers = Executors.newFixedThreadPool(64);
      ScheduledExecutorService clock = Executors.newSingleThreadScheduledExecutor();
      AtomicInteger sent = new AtomicInteger();
      long start = System.nanoTime();
      clock.scheduleAtFixedRate(() -> {
        int n = sent.getAndIncrement();
        long sentMs = (System.nanoTime() - start) / 1_000_000;
        if (sentMs >= RUN_MS) {
          return;
        }
        Sidecar sidecar = sidecars.get(n % 2);
        callers.submit(() -> {
          Fleet.Answer answer = Fleet.exchange(sidecar.proxyPort(), "user-" + n % 50);
          answers.add(new Answer(sentMs, answer.status(), answer.metered()));
        });
      }, 0, 10, TimeUnit.MILLISECONDS);
      sleepUntil(start, KILL_AT_MS);
      fleet.signalRedis("KILL");
      sleepUntil(start, RESTART_AT_MS);
      fleet.restartRedis();
      sleepUntil(start, RUN_MS);
      clock.shutdownNow();
      callers.shutdown();
      assertThat(callers.awaitTermination(30, TimeUnit.SECONDS)).isTrue();

      int bins = RUN_MS / 500;
      int[] ok = new int[bins];
      int[] throttled = new int[bins];
      int[] other = new int[bins];
      for (Answer answer : answers) {
        int bin = (int) Math.min(bins - 1, answer.sentMs() / 500);
        switch (answer.status()) {
          case 200 -> ok[bin]++;
          case 429 -> throttled[bin]++;
          default -> other[bin]++;
        }
      }
      StringBuilder table = new StringBuilder(mode + ", AOF " + appendfsync + ": 200 / 429 (/ other) per half second\n");
      for (int b = 0; b < bins; b++) {
        table.append(String.format("  %4.1f-%4.1f s  %3d / %3d%s%n", b / 2.0, b / 2.0 + 0.5, ok[b], throttled[b],
            other[b] == 0 ? "" : " / " + other[b]));
      }
      int admitted = 0;
      for (int b = 0; b < bins; b++) {
        admitted += ok[b];
      }
      int decided = (int) answers.stream().filter(a -> a.status() == 200 && a.metered()).count();
      table.append("  admitted ").append(admitted).append(", ").append(decided).append(" of them by the limits")
          .append(" (the policy allows about ").append(ALLOWED).append(")");
      System.out.println(table);

      assertThat(other).as("every call answered 200 or 429\n" + table).containsOnly(0);
      // no blackout: from the restart on, every half second admits at least 40 % of the limit's 25
      // (the hand-over to Redis and the replay behind it included; measured 23-27 on a quiet machine,
      // 16 at worst under heavy load, against 0 for 3 s before replay by kind of limit)
      for (int b = RESTART_AT_MS / 500; b < bins; b++) {
        assertThat(ok[b]).as("half second %d, Redis back at %d ms\n%s", b, RESTART_AT_MS, table)
            .isGreaterThanOrEqualTo(10);
      }
      for (Sidecar sidecar : sidecars) {
        assertThat(sidecar.log()).as(sidecar.name()).contains("Redis unavailable").contains("Redis is back");
      }
      long spend = budget(fleet, budgetKey);
      fleet.stop(sidecars);
      return new Run(admitted, decided, admitted + 1, spend, costOfOne);
    }
  }

  private static void sleepUntil(long startNanos, long atMs) throws InterruptedException {
    long waitMs = atMs - (System.nanoTime() - startNanos) / 1_000_000;
    if (waitMs > 0) {
      Thread.sleep(waitMs); // the scenario's timeline: kill and restart at fixed moments of the load
    }
  }

  /** The global budget counter once the journal has been added (two equal reads 300 ms apart). */
  private static long budget(Fleet fleet, String key) throws InterruptedException {
    long last = -1;
    for (int i = 0; i < 50; i++) {
      String value = fleet.redis("GET", key);
      long now = value == null ? 0 : Long.parseLong(value.substring(value.indexOf(':') + 1));
      if (now == last && now > 0) {
        return now;
      }
      last = now;
      Thread.sleep(300); // poll until the replay behind the traffic is done
    }
    return last;
  }
}
