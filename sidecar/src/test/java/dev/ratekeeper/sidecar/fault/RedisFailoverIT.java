package dev.ratekeeper.sidecar.fault;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.ratekeeper.sidecar.it.SidecarFixture;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.sidecar.store.RedisClientSettings;
import dev.ratekeeper.testkit.StubLlmUpstream;
import dev.ratekeeper.testkit.redis.RedisClusterNodes;
import dev.ratekeeper.testkit.redis.RedisNode;
import dev.ratekeeper.testkit.redis.RedisSentinels;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A Redis master killed (SIGKILL) under load from three sidecars, each with its own Vert.x and Redis
 * connections, in Enforce mode with {@code FailClosed}: its replica is promoted (by the sentinels,
 * or by the Cluster), the sidecars find it without a restart, and decisions resume. Measured and
 * asserted: how long no decision was served (503 meanwhile, never a 5xx of another kind and never an
 * admission Redis did not make), and how many admissions Redis acknowledged but lost with the dead
 * master (replication is asynchronous): the global bucket's count on the promoted replica against
 * the 200s the sidecars answered. The figures are printed as {@code FAILOVER-FIGURES} lines
 * (docs/benchmarks.md).
 */
class RedisFailoverIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: %s, namespace: failover}
      spec:
        mode: Enforce
        tiers:
        - name: everyone
        global:
          requests: {perMinute: 1, burst: 1000000}
        onStoreUnavailable: FailClosed
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;
  /** LocalFallback: decided in memory during the gap, journaled, and added to the promoted replica afterwards. */
  static final String LOCAL_FALLBACK = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: %s, namespace: failover}
      spec:
        mode: Enforce
        tiers:
        - name: everyone
          tokens: {perDay: 1000000000}
        onStoreUnavailable: LocalFallback
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;
  /** The stub reports 25 input and 15 output tokens a call. */
  static final long TOKENS_PER_CALL = 40;
  static final String BODY = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":50,\"messages\":[]}";
  static final int SIDECARS = 3;
  static final int CLIENTS_PER_SIDECAR = 4;
  /** Decisions must be served again within this long after the kill (sentinel: down after 1 s; Cluster: node timeout 1 s). */
  static final long RESUME_BOUND_MS = 10_000;

  SidecarFixture fixture;
  StubLlmUpstream stub;

  @BeforeEach
  void start() {
    fixture = new SidecarFixture();
    stub = StubLlmUpstream.start();
  }

  @AfterEach
  void stop() {
    fixture.close();
    stub.close();
  }

  @Test
  void sentinelPromotesTheReplicaAndSidecarsFollowWithoutARestart() throws Exception {
    try (RedisSentinels set = RedisSentinels.start()) {
      RedisClientSettings endpoint = RedisClientSettings.sentinel(set.sentinelUrls(), RedisSentinels.MASTER_NAME);
      Result r = underLoad("sentinel", endpoint, () -> {
        RedisNode master = set.initialMaster();
        master.kill();
        return set.initialReplica();
      });
      assertThat(set.currentMaster()).isSameAs(set.initialReplica());
      r.check("sentinel");
    }
  }

  @Test
  void clusterPromotesTheReplicaOfTheKilledMasterAndSidecarsFollowWithoutARestart() throws Exception {
    try (RedisClusterNodes cluster = RedisClusterNodes.start()) {
      RedisClientSettings endpoint = RedisClientSettings.cluster(cluster.seedUrls());
      String key = "rk:{failover/cluster}:g:req";
      Result r = underLoad("cluster", endpoint, () -> {
        RedisNode master = cluster.masterOf(cluster.slotOf(key));
        RedisNode replica = cluster.replicaOf(master);
        master.kill();
        return replica;
      });
      r.check("cluster");
    }
  }

  @Test
  void underLocalFallbackTheGapIsServedInMemoryAndEveryCallIsCountedOnThePromotedReplica() throws Exception {
    try (RedisSentinels set = RedisSentinels.start()) {
      RedisClientSettings endpoint = RedisClientSettings.sentinel(set.sentinelUrls(), RedisSentinels.MASTER_NAME);
      Result r = underLoad("local", LOCAL_FALLBACK.formatted("local"), endpoint, () -> {
        set.initialMaster().kill();
        return set.initialReplica();
      });
      System.out.println("FAILOVER-FIGURES sentinel LocalFallback: " + r.admitted() + " admitted, " + r.refused503()
          + " refused, " + r.other() + " other; longest gap without a 200: " + r.longestGapMs() + " ms; the promoted"
          + " replica's day quota counts " + r.countedOnNewMaster() + " calls (" + r.lostAdmissions() + " missing)");
      assertThat(r.refused503() + r.other()).as("nothing refused: the gap is served in memory").isZero();
      assertThat(r.longestGapMs()).as("no gap in service").isLessThan(1_500);
      assertThat(r.lostAdmissions()).as("calls the quota does not count").isBetween(0L,
          (long) SIDECARS * CLIENTS_PER_SIDECAR);
    }
  }

  /** What one run saw. */
  record Result(long admittedBeforeKill, long admitted, long refused503, long other, long resumeMs,
      long longestGapMs, long countedOnNewMaster, long lostAdmissions, long totalMs) {
    void check(String topology) {
      System.out.println("FAILOVER-FIGURES " + topology + ": " + admittedBeforeKill + " admitted in the 1.5 s before"
          + " the kill; " + admitted + " admitted in all, " + refused503 + " answered 503 (FailClosed), " + other
          + " other; decisions served again " + resumeMs + " ms after the kill;"
 + " longest gap without a 200: " + longestGapMs + " ms; promoted replica counts " + countedOnNewMaster
          + " admissions: " + lostAdmissions + " acknowledged admissions lost with the killed master; run " + totalMs
          + " ms");
      assertThat(other).as("answers other than 200 and 503").isZero();
      assertThat(resumeMs).as("decisions served again after the kill").isLessThan(RESUME_BOUND_MS);
      // lost admissions are acknowledged writes the replica never got; never negative (nothing counted twice)
      assertThat(lostAdmissions).isBetween(0L, (long) SIDECARS * CLIENTS_PER_SIDECAR);
    }
  }

  /**
   * Three sidecars on {@code endpoint}, 12 clients sending calls without pause for 1.5 s, then
   * {@code kill} (which returns the node that takes over), then until decisions have been served for
   * 3 s again.
   */
  private Result underLoad(String name, RedisClientSettings endpoint, Supplier<RedisNode> kill) throws Exception {
    return underLoad(name, POLICY.formatted(name), endpoint, kill);
  }

  private Result underLoad(String name, String policyYaml, RedisClientSettings endpoint, Supplier<RedisNode> kill)
      throws Exception {
    String policy = SidecarFixture.policyFile(policyYaml).toString();
    List<Sidecar> fleet = new ArrayList<>();
    for (int i = 0; i < SIDECARS; i++) {
      fleet.add(fixture.sidecar(endpoint, Map.of(), "--policy-file", policy, "--upstream", "anthropic=" + stub.url(),
          "--sidecar-id", "failover-" + i));
    }
    record Outcome(long atNanos, int status) {}
    ConcurrentLinkedQueue<Outcome> outcomes = new ConcurrentLinkedQueue<>();
    long start = System.nanoTime();
    long[] killedAt = {Long.MAX_VALUE};
    long[] stopAt = {Long.MAX_VALUE};
    ExecutorService clients = Executors.newFixedThreadPool(SIDECARS * CLIENTS_PER_SIDECAR);
    for (int c = 0; c < SIDECARS * CLIENTS_PER_SIDECAR; c++) {
      Sidecar sidecar = fleet.get(c % SIDECARS);
      clients.submit(() -> {
        while (System.nanoTime() < stopAt[0]) {
          HttpResponse<String> response = fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", "agent");
          outcomes.add(new Outcome(System.nanoTime(), response.statusCode()));
        }
        return null;
      });
    }
    Thread.sleep(1_500); // load, not a window: the kill lands in the middle of it
    RedisNode promoted;
    synchronized (killedAt) {
      killedAt[0] = System.nanoTime();
      promoted = kill.get();
    }
    // run until decisions have been served again for 3 s (or the bound has passed)
    long deadline = killedAt[0] + TimeUnit.MILLISECONDS.toNanos(RESUME_BOUND_MS + 5_000);
    while (System.nanoTime() < deadline) {
      long resumed = outcomes.stream().filter(o -> o.atNanos() > killedAt[0] && o.status() == 200)
          .mapToLong(Outcome::atNanos).min().orElse(Long.MAX_VALUE);
      if (resumed != Long.MAX_VALUE && System.nanoTime() - resumed > 3_000_000_000L) {
        break;
      }
      Thread.sleep(100);
    }
    stopAt[0] = System.nanoTime();
    clients.shutdown();
    assertThat(clients.awaitTermination(30, TimeUnit.SECONDS)).isTrue();

    List<Outcome> all = outcomes.stream().sorted((a, b) -> Long.compare(a.atNanos(), b.atNanos())).toList();
    long admitted = all.stream().filter(o -> o.status() == 200).count();
    long refused = all.stream().filter(o -> o.status() == 503).count();
    long other = all.size() - admitted - refused;
    // served again: the first 200 after the last refusal (a call in flight at the kill may still have been
    // answered 200 after it); no refusal at all: no gap
    long lastRefusal = all.stream().filter(o -> o.status() != 200).mapToLong(Outcome::atNanos).max()
        .orElse(killedAt[0]);
    long firstAfter = all.stream().filter(o -> o.atNanos() >= lastRefusal && o.status() == 200)
        .mapToLong(Outcome::atNanos).min().orElse(Long.MAX_VALUE);
    StringBuilder timeline = new StringBuilder();
    for (long t = start; t < stopAt[0]; t += 250_000_000L) {
      long from = t;
      long ok = all.stream().filter(o -> o.atNanos() >= from && o.atNanos() < from + 250_000_000L && o.status() == 200)
          .count();
      long no = all.stream().filter(o -> o.atNanos() >= from && o.atNanos() < from + 250_000_000L && o.status() != 200)
          .count();
      timeline.append(from <= killedAt[0] && killedAt[0] < from + 250_000_000L ? " KILL" : "").append(" ")
          .append(ok).append("/").append(no);
    }
    System.out.println("FAILOVER-TIMELINE " + name + " (200s/others per 250 ms):" + timeline);
    long beforeKill = all.stream().filter(o -> o.atNanos() <= killedAt[0] && o.status() == 200).count();
    long gap = 0;
    long previous = killedAt[0];
    for (Outcome o : all) {
      if (o.status() == 200 && o.atNanos() > killedAt[0]) {
        gap = Math.max(gap, o.atNanos() - previous);
        previous = o.atNanos();
      }
    }
    // the global bucket on the node that took over: "<lastMs>:<occupancy>", occupancy = admissions × 60 000
    // less what drained at 1 per minute (under 1 admission over the run)
    long counted;
    if (policyYaml.contains("perDay")) {
      // the day quota, "<day>:<tokens>", once the journal is added: every call counted, 40 tokens each
      await().atMost(Duration.ofSeconds(10)).until(() -> fleet.stream().allMatch(s ->
          ((dev.ratekeeper.sidecar.resilience.ResilientLimiterStore) s.store()).journaled() == 0));
      String quota = String.valueOf(promoted.call("GET", "rk:{failover/" + name + "}:u:agent:tpd"));
      counted = Long.parseLong(quota.substring(quota.indexOf(':') + 1)) / TOKENS_PER_CALL;
    } else {
      String bucket = String.valueOf(promoted.call("GET", "rk:{failover/" + name + "}:g:req"));
      long occupancy = Long.parseLong(bucket.substring(bucket.indexOf(':') + 1));
      counted = Math.round(occupancy / 60_000.0);
    }
    long totalMs = (System.nanoTime() - start) / 1_000_000;
    return new Result(beforeKill, admitted, refused, other, firstAfter == Long.MAX_VALUE ? Long.MAX_VALUE
        : (firstAfter - killedAt[0]) / 1_000_000, gap / 1_000_000, counted, admitted - counted, totalMs);
  }
}
