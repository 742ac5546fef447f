package dev.ratekeeper.sidecar.it;

import dev.ratekeeper.sidecar.config.SidecarConfig;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.sidecar.store.RedisTime;
import dev.ratekeeper.sidecar.time.ManualClock;
import dev.ratekeeper.sidecar.time.ShiftedClock;
import dev.ratekeeper.sidecar.time.SidecarClock;
import dev.ratekeeper.testkit.FreePort;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import redis.embedded.RedisServer;

/** Real parts for sidecar tests: a redis-server process, sidecars each on their own Vert.x, an HTTP client. */
public final class SidecarFixture implements AutoCloseable {
  public final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();
  private final List<Sidecar> sidecars = new ArrayList<>();
  private final List<Vertx> vertxes = new ArrayList<>();
  private RedisServer redis;
  private int redisPort;
  /** The clock every sidecar of this fixture reads; tests that move time by hand set their own. */
  private SidecarClock clock = SidecarClock.SYSTEM;
  /** The clock the sidecars' Lua scripts read (limits, cooldowns): Redis TIME, or the one tests move. */
  private RedisTime scriptTime = RedisTime.server();

  /** Starts a real redis-server on a free loopback port (a fresh one if another process takes it first). */
  public String startRedis() {
    redis = FreePort.startOn(SidecarFixture::startPlainRedis);
    redisPort = redis.ports().get(0);
    return redisUrl();
  }

  /** A started redis-server on {@code port}: loopback only, nothing persisted. */
  public static RedisServer startPlainRedis(int port) throws IOException {
    RedisServer server = RedisServer.newRedisServer().port(port).bind("127.0.0.1").setting("save \"\"")
        .setting("appendonly no").build();
    server.start();
    return server;
  }

  /** Runs one Redis command on a fresh connection; returns the reply as text (null for nil). */
  public String redis(String... command) {
    Vertx vertx = Vertx.vertx();
    try {
      io.vertx.redis.client.Redis client = io.vertx.redis.client.Redis.createClient(vertx, redisUrl());
      io.vertx.redis.client.Request request = io.vertx.redis.client.Request.cmd(
          io.vertx.redis.client.Command.create(command[0]));
      for (int i = 1; i < command.length; i++) {
        request.arg(command[i]);
      }
      io.vertx.redis.client.Response reply = await(client.send(request));
      client.close();
      return reply == null ? null : reply.toString();
    } finally {
      vertx.close();
    }
  }

  public long redisLong(String... command) {
    String reply = redis(command);
    return reply == null ? 0 : Long.parseLong(reply);
  }

  /** The one key matching {@code pattern}, or the pattern itself when none does yet. */
  public String redisKey(String pattern) {
    Vertx vertx = Vertx.vertx();
    try {
      io.vertx.redis.client.Redis client = io.vertx.redis.client.Redis.createClient(vertx, redisUrl());
      io.vertx.redis.client.Response keys = await(client.send(io.vertx.redis.client.Request
          .cmd(io.vertx.redis.client.Command.KEYS).arg(pattern)));
      client.close();
      return keys.size() == 1 ? keys.get(0).toString() : pattern;
    } finally {
      vertx.close();
    }
  }

  /** Stops the Redis server (an outage); {@link #restartRedis()} brings a new, empty one up on the same port. */
  public void stopRedis() {
    try {
      redis.stop();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public void restartRedis() {
    try {
      redis = startPlainRedis(redisPort);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public String redisUrl() {
    return "redis://127.0.0.1:" + redisPort;
  }

  /** Writes {@code yaml} to a temporary policy file. */
  public static Path policyFile(String yaml) {
    try {
      Path file = Files.createTempFile("policy", ".yaml");
      Files.writeString(file, yaml);
      file.toFile().deleteOnExit();
      return file;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Starts a sidecar with these flags (ports default to free ones) and environment. */
  /**
   * A sidecar enforcing {@code policyYaml} (a policy file) on this fixture's Redis, its upstream
   * {@code upstream} pointed at {@code stub}.
   */
  public Sidecar sidecarFor(String policyYaml, String upstream, dev.ratekeeper.testkit.StubLlmUpstream stub) {
    return sidecar(Map.of(), "--policy-file", policyFile(policyYaml).toString(), "--redis", redisUrl(),
        "--upstream", upstream + "=" + stub.url());
  }

  public Sidecar sidecar(Map<String, String> env, String... args) {
    return sidecar(null, env, args);
  }

  /**
   * Starts a sidecar reaching Redis through {@code redis} (a Cluster, Sentinel, TLS), with these flags
   * and environment; null: as its flags say.
   */
  public Sidecar sidecar(dev.ratekeeper.sidecar.store.RedisClientSettings redis, Map<String, String> env, String... args) {
    List<String> all = new ArrayList<>(List.of(args));
    if (!all.contains("--listen")) {
      all.addAll(List.of("--listen", "127.0.0.1:0"));
    }
    if (!all.contains("--admin-listen")) {
      all.addAll(List.of("--admin-listen", "127.0.0.1:0"));
    }
    try {
      SidecarConfig config = SidecarConfig.parse(all.toArray(String[]::new), new HashMap<>(env));
      Vertx vertx = Vertx.vertx();
      vertxes.add(vertx);
      Sidecar sidecar = await(Sidecar.start(vertx, config, clock, scriptTime,
          redis == null ? config.redisClient() : redis));
      sidecars.add(sidecar);
      return sidecar;
    } catch (dev.ratekeeper.cli.ConfigException e) {
      throw new IllegalArgumentException(e);
    }
  }

  /**
   * Sidecars started from now on read {@code clock}, and so do the Lua scripts they run (pinned to
   * it): moving it ends cooldowns and moves limit windows in Redis as well as in the sidecars.
   */
  public SidecarFixture clock(ManualClock clock) {
    this.clock = clock;
    this.scriptTime = RedisTime.pinned(clock::millis);
    return this;
  }

  /**
   * Sidecars started from now on read {@code clock}, and the Lua scripts they run read Redis
   * {@code TIME} shifted as much: moving it ends cooldowns in Redis as well as in the sidecars.
   */
  public SidecarFixture clock(ShiftedClock clock) {
    this.clock = clock;
    this.scriptTime = RedisTime.serverPlus(clock::shiftMs);
    return this;
  }

  public static <T> T await(Future<T> future) {
    try {
      return future.toCompletionStage().toCompletableFuture().get(20, TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      throw new IllegalStateException(e.getCause());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  public HttpResponse<String> post(Sidecar sidecar, String path, String body, String... headers) {
    HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sidecar.proxyPort() + path))
        .timeout(Duration.ofSeconds(20)).POST(HttpRequest.BodyPublishers.ofString(body))
        .header("content-type", "application/json");
    if (headers.length > 0) {
      builder.headers(headers);
    }
    return send(builder.build());
  }

  public HttpResponse<String> get(int port, String path, String... headers) {
    HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(20)).GET();
    if (headers.length > 0) {
      builder.headers(headers);
    }
    return send(builder.build());
  }

  public HttpResponse<String> send(HttpRequest request) {
    try {
      return http.send(request, HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** The value of one Prometheus sample, e.g. {@code ratekeeper_tokens_total{direction="input",...}}; 0 when absent. */
  public double metric(Sidecar sidecar, String name, String... labelPairs) {
    String text = get(sidecar.adminPort(), "/metrics").body();
    double total = 0;
    for (String line : text.split("\n")) {
      if (!line.startsWith(name + "{") && !line.startsWith(name + " ")) {
        continue;
      }
      boolean all = true;
      for (int i = 0; i < labelPairs.length; i += 2) {
        all &= line.contains(labelPairs[i] + "=\"" + labelPairs[i + 1] + "\"");
      }
      if (all) {
        total += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return total;
  }

  @Override
  public void close() {
    sidecars.forEach(Sidecar::close);
    vertxes.forEach(v -> v.close().toCompletionStage().toCompletableFuture().join());
    if (redis != null) {
      try {
        redis.stop();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }
}
