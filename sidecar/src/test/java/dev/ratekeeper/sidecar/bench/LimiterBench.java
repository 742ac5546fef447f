package dev.ratekeeper.sidecar.bench;

import dev.ratekeeper.policy.api.BudgetPeriod;
import dev.ratekeeper.policy.api.Mode;
import dev.ratekeeper.policy.api.StoreFailureMode;
import dev.ratekeeper.policy.api.UnmeteredPaths;
import dev.ratekeeper.policy.compile.CompiledBudget;
import dev.ratekeeper.policy.compile.CompiledGlobal;
import dev.ratekeeper.policy.compile.CompiledIdentity;
import dev.ratekeeper.policy.compile.CompiledModel;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledTier;
import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.policy.compile.Rate;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.LimitPlan;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.store.RedisLimiterStore;
import dev.ratekeeper.sidecar.store.RedisLink;
import dev.ratekeeper.sidecar.store.RedisTime;
import io.github.bucket4j.BucketConfiguration;
import io.github.bucket4j.distributed.AsyncBucketProxy;
import io.github.bucket4j.distributed.ExpirationAfterWriteStrategy;
import io.github.bucket4j.redis.lettuce.Bucket4jLettuce;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.RedisOptions;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import redis.embedded.RedisServer;

/**
 * Limiter throughput through one Redis, side by side (run it with {@code bench/limiter.sh}; not a test):
 *
 * <ul>
 *   <li>Ratekeeper, requests-only admission: {@code admit.lua} on one contended user's bucket plus the
 *       global request bucket, through the sidecar's own {@link RedisLink} (its pipelined connections)
 *       with 1, 8, 64 calls in flight;
 *   <li>Ratekeeper, full metered admission: all 14 counters of a request (tier rates, hour/day quotas,
 *       a lease, user and global budgets, model and global rates, the tier's global shares), same user;
 *       and the whole request lifecycle, admit then reconcile (two script calls per request);
 *   <li>redis-benchmark running the same {@code EVALSHA} (same KEYS and ARGV as the requests-only
 *       admission) with 1, 8, 64 connections, one call in flight each: Redis' own ceiling for the script;
 *   <li>Bucket4j 8.14 Lettuce backend ({@code tryConsume(1)} on one bucket, compare-and-swap),
 *       through one Lettuce connection with 1, 8, 64 calls in flight.
 * </ul>
 *
 * Arguments: {@code [redis://host:port] [seconds per measurement]}. Without a URL it starts an
 * embedded redis-server on a free port. Limits are set so high that every call is admitted (the
 * write path is the expensive one).
 */
public final class LimiterBench {
  private static final int[] IN_FLIGHT = {1, 8, 64};
  private static final long HUGE = 1_000_000_000L;

  public static void main(String[] args) throws Exception {
    String url = args.length > 0 && args[0].startsWith("redis://") ? args[0] : null;
    Duration each = Duration.ofSeconds(args.length > 1 ? Long.parseLong(args[1]) : 5);
    RedisServer embedded = null;
    if (url == null) {
      int port;
      try (ServerSocket socket = new ServerSocket(0)) {
        port = socket.getLocalPort();
      }
      embedded = RedisServer.newRedisServer().port(port).bind("127.0.0.1").setting("save \"\"")
          .setting("appendonly no").build();
      embedded.start();
      url = "redis://127.0.0.1:" + port;
    }
    String host = url.substring("redis://".length(), url.lastIndexOf(':'));
    int port = Integer.parseInt(url.substring(url.lastIndexOf(':') + 1));
    System.out.printf("Redis %s (%s), %d s per measurement, %d cores%n", url, embedded != null ? "embedded" : "given",
        each.toSeconds(), Runtime.getRuntime().availableProcessors());

    Vertx vertx = Vertx.vertx();
    try {
      // a connection of its own for INFO / CONFIG RESETSTAT between measurements (not measured)
      RedisConnection connection = Redis.createClient(vertx, new RedisOptions().setConnectionString(url)).connect()
          .toCompletionStage().toCompletableFuture().get();
      // exactly the sidecar's client set-up: RedisLink's pipelined connections, scripts loaded at open
      RedisLink link = RedisLink.open(vertx, new RedisOptions().setConnectionString(url), RedisLink.PER_EVENT_LOOP,
          System::nanoTime, RedisLimiterStore::loadScripts).toCompletionStage().toCompletableFuture().get();
      RedisLimiterStore store = RedisLimiterStore.create(link, LimiterOptions.DEFAULTS, RedisTime.server());
      // full admissions leave a lease and a reservation record each: short TTLs keep Redis' memory flat
      RedisLimiterStore shortLived = RedisLimiterStore.create(link,
          new LimiterOptions(2_000, 2_000, 1_000, 1_000, 0), RedisTime.server());
      CompiledPolicy policy = policy();
      CompiledTier tier = policy.tier("bench").orElseThrow();
      CompiledModel model = policy.model("bench-model").orElseThrow();

      Supplier<AdmitRequest> requestsOnly = () -> AdmitRequest.requestsOnly(policy,
          UUID.randomUUID().toString(), "bench-user", tier);
      Supplier<AdmitRequest> metered = () -> AdmitRequest.metered(policy, UUID.randomUUID().toString(), "bench-user",
          tier, model, 10, 10);
      store.admit(requestsOnly.get()).toCompletionStage().toCompletableFuture().get(); // learns the stats period
      shortLived.admit(requestsOnly.get()).toCompletionStage().toCompletableFuture().get();
      System.out.printf("full admission: %d counters%n", LimitPlan.checks(metered.get()).size());

      List<String> evalsha = new ArrayList<>(store.admitCommand(requestsOnly.get()));
      evalsha.set(4, evalsha.get(4) + ":__rand_int__"); // KEYS[2], the record: one per call, as each request has its own
      Map<Integer, String> redisBenchmark = new java.util.HashMap<>();
      for (int n : IN_FLIGHT) {
        redisBenchmark.put(n, redisBenchmark(host, port, n, evalsha));
      }

      RedisClient lettuce = RedisClient.create(url);
      StatefulRedisConnection<byte[], byte[]> lettuceConnection = lettuce.connect(ByteArrayCodec.INSTANCE);
      var proxyManager = Bucket4jLettuce.casBasedBuilder(lettuceConnection)
          .expirationAfterWrite(ExpirationAfterWriteStrategy.basedOnTimeForRefillingBucketUpToMax(Duration.ofMinutes(1)))
          .build();
      BucketConfiguration configuration = BucketConfiguration.builder()
          .addLimit(limit -> limit.capacity(HUGE).refillGreedy(HUGE, Duration.ofMinutes(1)))
          .build();
      AsyncBucketProxy bucket = proxyManager.asAsync().builder()
          .build("bench:bucket4j".getBytes(StandardCharsets.UTF_8), () -> CompletableFuture.completedFuture(configuration));

      System.out.println();
      System.out.println("| in flight | Ratekeeper requests-only admit | Ratekeeper full admit (14 counters) "
          + "| Ratekeeper full request (admit + reconcile) | redis-benchmark EVALSHA admit.lua (requests-only) "
          + "| Bucket4j Lettuce tryConsume |");
      System.out.println("|---:|---:|---:|---:|---:|---:|");
      Map<String, String> serverTime = new java.util.LinkedHashMap<>();
      for (int n : IN_FLIGHT) {
        resetStats(connection);
        double ro = measure(n, each, () -> store.admit(requestsOnly.get()).toCompletionStage());
        serverTime.merge("requests-only admit", usecPerCall(connection, "evalsha"), (a, b) -> a + " / " + b);
        resetStats(connection);
        double full = measure(n, each, () -> shortLived.admit(metered.get()).toCompletionStage());
        serverTime.merge("full admit (14 counters)", usecPerCall(connection, "evalsha"), (a, b) -> a + " / " + b);
        resetStats(connection);
        double lifecycle = measure(n, each, () -> {
          AdmitRequest request = metered.get();
          return shortLived.admit(request)
              .compose(decision -> shortLived.reconcile(new ReconcileRequest(request, 8, 8)))
              .toCompletionStage();
        });
        serverTime.merge("admit + reconcile, per script call", usecPerCall(connection, "evalsha"),
            (a, b) -> a + " / " + b);
        resetStats(connection);
        double b4j = measure(n, each, () -> bucket.tryConsume(1));
        serverTime.merge("Bucket4j tryConsume, per EVAL", usecPerCall(connection, "eval"), (a, b) -> a + " / " + b);
        System.out.printf("| %d | %,.0f/s | %,.0f/s | %,.0f/s | %s | %,.0f/s |%n", n, ro, full, lifecycle,
            redisBenchmark.get(n), b4j);
      }
      System.out.println();
      System.out.println("Redis CPU per call, µs (INFO commandstats usec_per_call; at 1 / 8 / 64 in flight):");
      serverTime.forEach((what, usec) -> System.out.printf("- %s: %s%n", what, usec));
      lettuceConnection.close();
      lettuce.shutdown();
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get();
      if (embedded != null) {
        embedded.stop();
      }
    }
  }

  private static void resetStats(RedisConnection connection) throws Exception {
    connection.send(io.vertx.redis.client.Request.cmd(io.vertx.redis.client.Command.CONFIG).arg("RESETSTAT"))
        .toCompletionStage().toCompletableFuture().get();
  }

  /** {@code usec_per_call} of one command from {@code INFO commandstats}. */
  private static String usecPerCall(RedisConnection connection, String command) throws Exception {
    String info = connection.send(io.vertx.redis.client.Request.cmd(io.vertx.redis.client.Command.INFO)
        .arg("commandstats")).toCompletionStage().toCompletableFuture().get().toString();
    Matcher m = Pattern.compile("cmdstat_" + command + ":calls=\\d+,usec=\\d+,usec_per_call=([0-9.]+)").matcher(info);
    return m.find() ? m.group(1) : "-";
  }

  /** Calls per second with {@code inFlight} calls outstanding at all times, after a one-second warm-up. */
  private static double measure(int inFlight, Duration duration, Supplier<CompletionStage<?>> call)
      throws InterruptedException {
    run(inFlight, Duration.ofSeconds(1), call);
    return run(inFlight, duration, call);
  }

  private static double run(int inFlight, Duration duration, Supplier<CompletionStage<?>> call)
      throws InterruptedException {
    AtomicBoolean running = new AtomicBoolean(true);
    AtomicLong done = new AtomicLong();
    AtomicLong failed = new AtomicLong();
    CountDownLatch stopped = new CountDownLatch(inFlight);
    long start = System.nanoTime();
    for (int i = 0; i < inFlight; i++) {
      next(call, running, done, failed, stopped);
    }
    Thread.sleep(duration.toMillis());
    running.set(false);
    if (!stopped.await(30, TimeUnit.SECONDS)) {
      throw new IllegalStateException("calls did not finish");
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    if (failed.get() > 0) {
      throw new IllegalStateException(failed.get() + " calls failed");
    }
    return done.get() / seconds;
  }

  private static void next(Supplier<CompletionStage<?>> call, AtomicBoolean running, AtomicLong done,
      AtomicLong failed, CountDownLatch stopped) {
    call.get().whenComplete((result, error) -> {
      if (error != null) {
        failed.incrementAndGet();
      } else {
        done.incrementAndGet();
      }
      if (running.get() && error == null) {
        next(call, running, done, failed, stopped);
      } else {
        stopped.countDown();
      }
    });
  }

  /** redis-benchmark's figure for the same EVALSHA, or why there is none. */
  private static String redisBenchmark(String host, int port, int clients, List<String> command) {
    List<String> cmd = new ArrayList<>(List.of("redis-benchmark", "-h", host, "-p", Integer.toString(port),
        "-c", Integer.toString(clients), "-n", "200000", "-r", "1000000000", "-q"));
    cmd.addAll(command);
    try {
      Process process = new ProcessBuilder(cmd).redirectErrorStream(true).start();
      StringBuilder out = new StringBuilder();
      try (BufferedReader reader = new BufferedReader(new InputStreamReader(process.getInputStream(),
          StandardCharsets.UTF_8))) {
        reader.lines().forEach(line -> out.append(line).append('\n'));
      }
      process.waitFor();
      // -q prints "<command>: 41234.56 requests per second" (carriage returns separate progress lines)
      Matcher m = Pattern.compile("([0-9.]+) requests per second").matcher(out);
      String last = null;
      while (m.find()) {
        last = m.group(1);
      }
      return last == null ? "failed: " + out.toString().strip().replace('\n', ' ')
          : String.format("%,.0f/s", Double.parseDouble(last));
    } catch (java.io.IOException e) {
      return "redis-benchmark not installed";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted";
    }
  }

  /** One tier with every limit, one model, global limits: all far above what the benchmark reaches. */
  private static CompiledPolicy policy() {
    Rate rate = Rate.perMinute(HUGE, null);
    CompiledTier tier = new CompiledTier("bench", 0, rate, rate, HUGE, HUGE, null, Integer.MAX_VALUE,
        new CompiledBudget(HUGE * 1000, BudgetPeriod.Monthly), List.of(), 50, 0);
    CompiledModel model = new CompiledModel("bench-model", rate, rate, HUGE, null, null);
    return new CompiledPolicy(CompiledPolicy.SCHEMA_VERSION, new PolicyId("bench", "limiter"), "bench", Mode.Enforce,
        new CompiledIdentity("X-Ratekeeper-User", "X-Ratekeeper-Tier", false, "X-Ratekeeper-Api-Key", null),
        "bench", 4096, List.of(tier), Map.of(), List.of(model),
        new CompiledGlobal(rate, rate, new CompiledBudget(HUGE * 1000, BudgetPeriod.Monthly)), 80, false, List.of(),
        UnmeteredPaths.RequestsOnly, StoreFailureMode.LocalFallback);
  }
}
