package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.limiter.TestPolicy.perMinute;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.policy;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.tier;
import static dev.ratekeeper.sidecar.store.EmbeddedRedis.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.testkit.redis.RedisClusterNodes;
import dev.ratekeeper.testkit.redis.RedisNode;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The limiter on a real 3-master/3-replica Redis Cluster: several sidecars' links (each its own
 * Vert.x, {@link RedisLink} in cluster mode) racing on one policy stay exact, and a slot moved to
 * another master while admissions run loses and duplicates nothing.
 */
class RedisClusterStoreIT {
  private static final String PREFIX = "rk:{team-a/agents}:";
  private static final int SIDECARS = 4;
  private static RedisClusterNodes cluster;

  private final List<Vertx> vertxes = new ArrayList<>();
  private final List<RedisLink> links = new ArrayList<>();
  private final List<RedisLimiterStore> stores = new ArrayList<>();

  @BeforeAll
  static void startCluster() {
    cluster = RedisClusterNodes.start();
  }

  @AfterAll
  static void stopCluster() {
    cluster.close();
  }

  @BeforeEach
  void sidecars() {
    cluster.masters().forEach(m -> m.call("FLUSHALL"));
    RedisClientSettings endpoint = RedisClientSettings.cluster(cluster.seedUrls());
    for (int i = 0; i < SIDECARS; i++) {
      Vertx vertx = Vertx.vertx();
      vertxes.add(vertx);
      RedisLink link = await(RedisLink.open(vertx, endpoint.toOptions(), RedisLink.CONNECTIONS, System::nanoTime,
          RedisLimiterStore::loadScripts));
      links.add(link);
      stores.add(RedisLimiterStore.create(link::send, LimiterOptions.DEFAULTS, RedisTime.server()));
    }
  }

  @AfterEach
  void close() {
    links.forEach(link -> await(link.close()));
    vertxes.forEach(v -> await(v.close()));
  }

  @Test
  void racingSidecarsOnAClusterAdmitExactlyTheBurst() {
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(1, 100))).build();
    List<Future<Decision>> decisions = new ArrayList<>();
    for (int i = 0; i < 4_000; i++) {
      decisions.add(stores.get(i % SIDECARS).admit(requestsOnly(p)));
    }
    await(Future.all(decisions));
    assertThat(decisions.stream().filter(d -> d.result().allowed()).count()).isEqualTo(100);
    int slot = cluster.slotOf(PREFIX + "g:req");
    RedisNode owner = cluster.masterOf(slot);
    assertThat(owner.call("EXISTS", PREFIX + "u:alice:req")).isEqualTo(1L);
    for (RedisNode other : cluster.masters()) {
      if (other != owner) {
        assertThat((Long) other.call("DBSIZE")).as("keys on a master that does not own the policy's slot").isZero();
      }
    }
  }

  @Test
  void aSlotMovedUnderLiveTrafficLosesAndDuplicatesNoAdmission() throws Exception {
    // a global 1/min with a burst of 150: nothing refills during the test, so exactly 150 may pass, wherever the keys are
    CompiledPolicy p = policy().tier(tier("free")).global(perMinute(1, 150), null, null).build();
    int slot = cluster.slotOf(PREFIX + "g:req");
    RedisNode source = cluster.masterOf(slot);
    RedisNode target = cluster.masters().stream().filter(m -> m != source).findFirst().orElseThrow();
    // a few keys in the slot before the move, so that MIGRATE has work to do in several batches
    List<Future<Decision>> first = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      first.add(stores.get(i % SIDECARS).admit(AdmitRequest.requestsOnly(p, UUID.randomUUID().toString(), "user" + i,
          p.tier("free").orElseThrow())));
    }
    await(Future.all(first));

    AtomicBoolean moving = new AtomicBoolean(true);
    AtomicInteger allowed = new AtomicInteger();
    AtomicInteger denied = new AtomicInteger();
    List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
    Thread traffic = new Thread(() -> {
      int i = 0;
      while (moving.get() || i < 400) {
        List<Future<Decision>> wave = new ArrayList<>();
        for (int k = 0; k < 8; k++, i++) {
          wave.add(stores.get(i % SIDECARS).admit(requestsOnly(p)));
        }
        try {
          await(Future.join(wave));
        } catch (RuntimeException ignored) {
          // counted per decision below
        }
        for (Future<Decision> f : wave) {
          if (f.failed()) {
            failures.add(f.cause());
          } else if (f.result().allowed()) {
            allowed.incrementAndGet();
          } else {
            denied.incrementAndGet();
          }
        }
      }
    });
    traffic.start();
    int moved = cluster.moveSlot(slot, target, 10, 20);
    moving.set(false);
    traffic.join(60_000);

    assertThat(moved).isGreaterThan(50);
    assertThat(cluster.masterOf(slot)).isSameAs(target);
    assertThat(failures).as("admissions that failed during the move").isEmpty();
    // user0..49 took 50 of the global 150: exactly 100 left for the traffic during the move
    assertThat(allowed.get()).isEqualTo(100);
    assertThat(denied.get()).isPositive();
    assertThat(target.call("EXISTS", PREFIX + "g:req")).isEqualTo(1L);
    assertThat((Long) source.call("DBSIZE")).isZero();
  }

  /**
   * How load spreads: one policy's decisions all go to the master owning its slot; twelve policies
   * spread over the three masters. Runs each for a few seconds with every sidecar keeping 64
   * metered admissions (all of a policy's counters, a reservation record, statistics) in flight and
   * prints {@code CLUSTER-FIGURES}: decisions per second, and each master's script calls and Redis
   * CPU per call ({@code INFO commandstats}).
   */
  @Test
  void onePolicyLoadsOneShardAndManyPoliciesSpreadOverAll() {
    List<CompiledPolicy> one = List.of(metered("team-a"));
    List<CompiledPolicy> twelve = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      twelve.add(metered("team-" + i));
    }
    Map<Integer, Long> onePolicy = run("1 policy", one);
    assertThat(onePolicy.values().stream().filter(calls -> calls > 100).count()).as("masters doing the work")
        .isEqualTo(1);
    Map<Integer, Long> spread = run("12 policies", twelve);
    assertThat(spread.values()).as("script calls per master").allMatch(calls -> calls > 100);
  }

  private static CompiledPolicy metered(String namespace) {
    return policy().id(namespace, "agents").tier(tier("free").requests(perMinute(100_000_000, 100_000_000))
        .tokensPerMinute(perMinute(100_000_000_000L, 100_000_000_000L)).tokensPerDay(100_000_000_000L)
        .budget(100_000_000_000L, dev.ratekeeper.policy.api.BudgetPeriod.Monthly)).build();
  }

  /** Script calls per master (by port) during {@code SECONDS} of load over {@code policies}. */
  private Map<Integer, Long> run(String label, List<CompiledPolicy> policies) {
    cluster.masters().forEach(m -> m.call("CONFIG", "RESETSTAT"));
    long deadline = System.nanoTime() + 3_000_000_000L;
    AtomicInteger decided = new AtomicInteger();
    List<Thread> drivers = new ArrayList<>();
    for (int s = 0; s < SIDECARS; s++) {
      RedisLimiterStore store = stores.get(s);
      Thread driver = new Thread(() -> {
        int i = 0;
        while (System.nanoTime() < deadline) {
          List<Future<Decision>> wave = new ArrayList<>(64);
          for (int k = 0; k < 64; k++, i++) {
            CompiledPolicy p = policies.get(i % policies.size());
            wave.add(store.admit(AdmitRequest.metered(p, UUID.randomUUID().toString(), "user" + (i % 50),
                p.tier("free").orElseThrow(), null, 100, 10)));
          }
          await(Future.all(wave));
          decided.addAndGet(wave.size());
        }
      });
      drivers.add(driver);
      driver.start();
    }
    for (Thread driver : drivers) {
      try {
        driver.join();
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    }
    Map<Integer, Long> calls = new java.util.TreeMap<>();
    StringBuilder perMaster = new StringBuilder();
    for (RedisNode master : cluster.masters()) {
      String stats = String.valueOf(master.call("INFO", "commandstats"));
      long n = 0;
      String usec = "-";
      for (String line : stats.split("\r?\n")) {
        if (line.startsWith("cmdstat_evalsha:") || line.startsWith("cmdstat_eval:")) {
          n += Long.parseLong(line.replaceAll("^[^:]*:calls=(\\d+),.*", "$1"));
          usec = line.startsWith("cmdstat_evalsha:") ? line.replaceAll(".*usec_per_call=([0-9.]+).*", "$1") : usec;
        }
      }
      calls.put(master.port(), n);
      perMaster.append(" ").append(n).append(" calls (").append(usec).append(" µs/call)");
    }
    System.out.println("CLUSTER-FIGURES " + label + ": " + decided.get() / 3 + " metered admissions/s from " + SIDECARS
        + " sidecars x 64 in flight; per master:" + perMaster);
    return calls;
  }

  private static AdmitRequest requestsOnly(CompiledPolicy p) {
    return AdmitRequest.requestsOnly(p, UUID.randomUUID().toString(), "alice", p.tier("free").orElseThrow());
  }
}
