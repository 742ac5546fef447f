package dev.ratekeeper.sidecar.bench;

import dev.ratekeeper.policy.api.StoreFailureMode;
import dev.ratekeeper.policy.api.UnmeteredPaths;
import dev.ratekeeper.policy.compile.CompiledGlobal;
import dev.ratekeeper.policy.compile.CompiledIdentity;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledTier;
import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.policy.compile.Rate;
import dev.ratekeeper.policy.api.Mode;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.store.RedisLimiterStore;
import dev.ratekeeper.sidecar.store.RedisLink;
import dev.ratekeeper.sidecar.store.RedisTime;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.redis.client.RedisOptions;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import redis.embedded.RedisServer;

/**
 * Decision latency under bursts, measured through exactly the client set-up the sidecar runs
 * ({@link RedisLink}: {@link RedisLink#PER_EVENT_LOOP} pipelined connections per sidecar, scripts
 * loaded at start): 1, 3 and 8 sidecars (each its own Vert.x, as separate pods would have) send 100
 * admissions at once, round after round; p50 / p99 / max of one admission, from the call to its
 * decision. Beside it, in the same run, redis-benchmark sending the same EVALSHA with as many
 * clients as there are admissions in flight. Not a test: nothing is asserted; `bench/burst.sh`.
 */
public final class BurstBench {
  private static final int CONCURRENT = 100;
  private static final int WARM_UP_ROUNDS = 30;
  private static final int ROUNDS = 200;

  private BurstBench() {}

  public static void main(String[] args) throws Exception {
    String target = args.length > 0 ? args[0] : "embedded";
    RedisServer embedded = null;
    String url = target;
    if (target.equals("embedded")) {
      int port;
      try (var socket = new java.net.ServerSocket(0)) {
        port = socket.getLocalPort();
      }
      embedded = RedisServer.newRedisServer().port(port).bind("127.0.0.1").setting("save \"\"")
          .setting("appendonly no").build();
      embedded.start();
      url = "redis://127.0.0.1:" + port;
    }
    URI uri = URI.create(url);
    System.out.println("| sidecars × concurrent | Ratekeeper decision p50 / p99 / max (ms) | "
        + "redis-benchmark EVALSHA, same clients: p50 / p99 / max (ms) |");
    System.out.println("|---|---|---|");
    try {
      for (int sidecars : new int[] {1, 3, 8}) {
        System.err.printf("%d sidecars × %d: %d rounds...%n", sidecars, CONCURRENT, ROUNDS);
        Result result = run(url, sidecars);
        String baseline = redisBenchmark(uri.getHost(), uri.getPort(), sidecars * CONCURRENT, result.command());
        System.out.printf("| %d × %d | %s | %s |%n", sidecars, CONCURRENT, result.latencies(), baseline);
      }
    } finally {
      if (embedded != null) {
        embedded.stop();
      }
    }
    System.exit(0);
  }

  private record Result(String latencies, List<String> command) {}

  private static Result run(String url, int count) throws Exception {
    CompiledPolicy policy = policy();
    CompiledTier tier = policy.tier("std").orElseThrow();
    List<Vertx> vertxes = new ArrayList<>();
    List<RedisLimiterStore> stores = new ArrayList<>();
    List<RedisLink> links = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      Vertx vertx = Vertx.vertx();
      RedisLink link = await(RedisLink.open(vertx, new RedisOptions().setConnectionString(url), RedisLink.PER_EVENT_LOOP,
          System::nanoTime, RedisLimiterStore::loadScripts));
      vertxes.add(vertx);
      links.add(link);
      stores.add(RedisLimiterStore.create(link, LimiterOptions.DEFAULTS, RedisTime.server()));
    }
    long[] samples = new long[ROUNDS * count * CONCURRENT];
    int taken = 0;
    for (int round = 0; round < WARM_UP_ROUNDS + ROUNDS; round++) {
      List<CompletableFuture<Long>> calls = new ArrayList<>(count * CONCURRENT);
      for (int s = 0; s < count; s++) {
        RedisLimiterStore store = stores.get(s);
        Vertx vertx = vertxes.get(s);
        // each sidecar's burst starts on its own event loop, as requests arriving at a proxy do
        CompletableFuture<List<CompletableFuture<Long>>> burst = new CompletableFuture<>();
        vertx.runOnContext(v -> {
          List<CompletableFuture<Long>> mine = new ArrayList<>(CONCURRENT);
          for (int i = 0; i < CONCURRENT; i++) {
            long start = System.nanoTime();
            AdmitRequest request = AdmitRequest.requestsOnly(policy, UUID.randomUUID().toString(), "user-" + i, tier);
            mine.add(store.admit(request).map(d -> System.nanoTime() - start).toCompletionStage().toCompletableFuture());
          }
          burst.complete(mine);
        });
        calls.addAll(burst.get(10, TimeUnit.SECONDS));
      }
      for (CompletableFuture<Long> call : calls) {
        long nanos = call.get(10, TimeUnit.SECONDS);
        if (round >= WARM_UP_ROUNDS) {
          samples[taken++] = nanos;
        }
      }
      Thread.sleep(20); // bursts, not a steady stream: let the fleet go idle between them
    }
    List<String> command = new ArrayList<>(stores.get(0).admitCommand(
        AdmitRequest.requestsOnly(policy, "bench", "user-0", tier)));
    command.set(3, command.get(3) + ":__rand_int__"); // KEYS[1], the record: one per call
    for (int i = 0; i < count; i++) {
      links.get(i).close();
      vertxes.get(i).close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
    Arrays.sort(samples, 0, taken);
    return new Result(String.format("%.2f / %.2f / %.2f", ms(samples[taken / 2]), ms(samples[(int) (taken * 0.99)]),
        ms(samples[taken - 1])), command);
  }

  private static double ms(long nanos) {
    return nanos / 1_000_000.0;
  }

  private static <T> T await(Future<T> future) throws Exception {
    return future.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  /** redis-benchmark's p50 / p99 / max for the same EVALSHA with {@code clients} connections. */
  private static String redisBenchmark(String host, int port, int clients, List<String> command) {
    List<String> cmd = new ArrayList<>(List.of("redis-benchmark", "-h", host, "-p", Integer.toString(port),
        "-c", Integer.toString(clients), "-n", Integer.toString(clients * ROUNDS), "-r", "1000000000", "--csv"));
    cmd.addAll(command);
    try {
      Process process = new ProcessBuilder(cmd).redirectErrorStream(true).start();
      List<String> lines = new ArrayList<>();
      try (BufferedReader reader = new BufferedReader(new InputStreamReader(process.getInputStream(),
          StandardCharsets.UTF_8))) {
        reader.lines().forEach(lines::add);
      }
      process.waitFor();
      // --csv: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
      for (String line : lines) {
        String[] cells = line.replace("\"", "").split(",");
        if (cells.length >= 8 && !cells[0].equals("test")) {
          return cells[4] + " / " + cells[6] + " / " + cells[7];
        }
      }
      return "failed: " + String.join(" ", lines);
    } catch (java.io.IOException e) {
      return "redis-benchmark not installed";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted";
    }
  }

  /** One tier with request rates far above the load, and the global request rate: 2 counters a call. */
  private static CompiledPolicy policy() {
    Rate unlimited = Rate.perMinute(100_000_000L, null);
    CompiledTier tier = new CompiledTier("std", 0, unlimited, null, null, null, null, null, null, List.of(), 0, 0);
    return new CompiledPolicy(CompiledPolicy.SCHEMA_VERSION, new PolicyId("bench", "burst"), "bench", Mode.Enforce,
        new CompiledIdentity("X-Ratekeeper-User", "X-Ratekeeper-Tier", false, "X-Ratekeeper-Api-Key", null), "std",
        4096, List.of(tier), Map.of(), List.of(), new CompiledGlobal(unlimited, null, null), 80, false, List.of(),
        UnmeteredPaths.RequestsOnly, StoreFailureMode.FailClosed);
  }
}
