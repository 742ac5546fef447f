package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.store.EmbeddedRedis.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.ratekeeper.sidecar.it.SidecarFixture;
import dev.ratekeeper.sidecar.time.ManualClock;
import dev.ratekeeper.testkit.FreePort;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import redis.embedded.RedisServer;

/**
 * The evidence rule of {@link RedisLink} against a real redis-server: thousands of commands in flight
 * and connections killed under it are no outage; a stopped server is noticed within a second and
 * its return within a second; a paused one likewise, a short pause not at all.
 */
class RedisLinkTest {
  private final List<String> events = new CopyOnWriteArrayList<>();
  private Vertx vertx;
  private RedisServer server;
  private int port;
  private RedisLink link;

  @BeforeEach
  void start() {
    server = FreePort.startOn(SidecarFixture::startPlainRedis);
    port = server.ports().get(0);
    vertx = Vertx.vertx();
    link = await(RedisLink.open(vertx, new RedisOptions().setConnectionString("redis://127.0.0.1:" + port),
        RedisLink.CONNECTIONS, System::nanoTime, RedisLimiterStore::loadScripts));
    link.listen(new RedisLink.Listener() {
      @Override
      public void unavailable(String evidence) {
        events.add("unavailable: " + evidence);
      }

      @Override
      public void available() {
        events.add("available");
      }
    });
  }

  @AfterEach
  void stop() throws IOException {
    await(link.close());
    await(vertx.close());
    server.stop();
  }

  /** The server again, on its own port (the link was told that address). */
  private void restartServer() throws IOException {
    server = SidecarFixture.startPlainRedis(port);
  }

  @Test
  void aBurstOfCommandsBeyondTheInFlightBoundIsQueuedNotRefused() {
    int burst = RedisLink.MAX_IN_FLIGHT * 3;
    List<Future<Response>> sent = new ArrayList<>();
    for (int i = 0; i < burst; i++) {
      sent.add(link.send(Request.cmd(Command.INCR).arg("burst")));
    }
    await(Future.all(sent));
    assertThat(await(link.send(Request.cmd(Command.GET).arg("burst"))).toInteger()).isEqualTo(burst);
    assertThat(link.inFlight()).isZero();
    assertThat(events).isEmpty();
  }

  @Test
  void killedConnectionsThatReopenAreNoOutageAndCommandsWaitForThem() {
    assertThat(await(link.send(Request.cmd(Command.PING))).toString()).isEqualTo("PONG");
    otherClient(Request.cmd(Command.CLIENT).arg("KILL").arg("TYPE").arg("normal"));
    // the link notices the close within a moment; commands sent while both re-open wait for them
    await().atMost(Duration.ofSeconds(1)).until(() -> link.inFlight() == 0);
    List<Future<Response>> during = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      during.add(link.send(Request.cmd(Command.PING)));
    }
    for (Future<Response> ping : during) {
      assertThat(await(ping).toString()).isEqualTo("PONG");
    }
    assertThat(events).isEmpty();
    assertThat(link.available()).isTrue();
  }

  @Test
  void aConnectionThatGoesSilentWithoutAResetIsReplaced() throws Exception {
    // a TCP path between the link and Redis that can freeze: bytes held, nothing forwarded, no reset
    // (a rescheduled pod behind a NAT that lost its state); connections opened afterwards work
    try (FreezingPath path = new FreezingPath(port)) {
      RedisLink throughPath = await(RedisLink.open(vertx, new RedisOptions().setConnectionString(
          "redis://127.0.0.1:" + path.port()), RedisLink.CONNECTIONS, System::nanoTime,
              RedisLimiterStore::loadScripts));
      List<String> seen = changesOf(throughPath);
      assertThat(await(throughPath.send(Request.cmd(Command.PING))).toString()).isEqualTo("PONG");
      path.freezeOpenConnections();
      long frozen = System.nanoTime();
      throughPath.send(Request.cmd(Command.PING));
      await().atMost(Duration.ofSeconds(1)).until(() -> !throughPath.available());
      await().atMost(Duration.ofSeconds(6)).until(throughPath::available);
      System.out.printf("frozen path: unavailable, then replaced and back after %d ms%n",
          (System.nanoTime() - frozen) / 1_000_000);
      assertThat(await(throughPath.send(Request.cmd(Command.PING))).toString()).isEqualTo("PONG");
      assertThat(seen).containsExactly("unavailable", "available");
      await(throughPath.close());
    }
  }

  @Test
  void silencesAreMeasuredOnTheSidecarsClock() throws Exception {
    // the same frozen path, judged on a clock moved by hand: the replacement that takes 3 s of real
    // silence comes as soon as the clock has moved 3 s (the watchdog's ticks are real, 100 ms apart)
    ManualClock clock = new ManualClock();
    try (FreezingPath path = new FreezingPath(port)) {
      RedisLink throughPath = await(RedisLink.open(vertx, new RedisOptions().setConnectionString(
          "redis://127.0.0.1:" + path.port()), 1, clock::nanos, RedisLimiterStore::loadScripts));
      List<String> seen = changesOf(throughPath);
      assertThat(await(throughPath.send(Request.cmd(Command.PING))).toString()).isEqualTo("PONG");
      path.freezeOpenConnections();
      throughPath.send(Request.cmd(Command.PING));
      await().atMost(Duration.ofSeconds(2)).until(() -> path.held() > 0); // the command is out, unanswered
      clock.advanceMs(RedisLink.STALL_MS + 1);
      await().atMost(Duration.ofSeconds(2)).until(() -> !throughPath.available());
      clock.advanceMs(RedisLink.REPLACE_SILENT_MS);
      // well before REPLACE_SILENT_MS of real time
      await().atMost(Duration.ofMillis(2_000)).until(throughPath::available);
      assertThat(await(throughPath.send(Request.cmd(Command.PING))).toString()).isEqualTo("PONG");
      assertThat(seen).containsExactly("unavailable", "available");
      await(throughPath.close());
    }
  }

  /** What {@code link} tells its listener from now on: "unavailable" and "available". */
  private static List<String> changesOf(RedisLink link) {
    List<String> seen = new CopyOnWriteArrayList<>();
    link.listen(new RedisLink.Listener() {
      @Override
      public void unavailable(String evidence) {
        seen.add("unavailable");
      }

      @Override
      public void available() {
        seen.add("available");
      }
    });
    return seen;
  }

  /** A loopback TCP relay to Redis whose open connections can be frozen. */
  private static final class FreezingPath implements AutoCloseable {
    private final ServerSocket server = new ServerSocket(0);
    private final List<AtomicBoolean> connections = new CopyOnWriteArrayList<>();
    private final List<java.net.Socket> sockets = new CopyOnWriteArrayList<>();
    /** Writes the path has held since it froze. */
    private final java.util.concurrent.atomic.AtomicInteger held = new java.util.concurrent.atomic.AtomicInteger();

    FreezingPath(int redisPort) throws IOException {
      Thread acceptor = new Thread(() -> {
        while (!server.isClosed()) {
          try {
            java.net.Socket client = server.accept();
            java.net.Socket redis = new java.net.Socket("127.0.0.1", redisPort);
            sockets.add(client);
            sockets.add(redis);
            AtomicBoolean frozen = new AtomicBoolean();
            connections.add(frozen);
            relay(client, redis, frozen, held);
            relay(redis, client, frozen, held);
          } catch (IOException e) {
            return;
          }
        }
      });
      acceptor.setDaemon(true);
      acceptor.start();
    }

    int port() {
      return server.getLocalPort();
    }

    void freezeOpenConnections() {
      connections.forEach(c -> c.set(true));
    }

    int held() {
      return held.get();
    }

    private static void relay(java.net.Socket from, java.net.Socket to, AtomicBoolean frozen,
        java.util.concurrent.atomic.AtomicInteger held) {
      Thread pump = new Thread(() -> {
        byte[] buffer = new byte[16_384];
        try {
          int n;
          while ((n = from.getInputStream().read(buffer)) >= 0) {
            if (frozen.get()) {
              held.incrementAndGet();
            }
            while (frozen.get() && !from.isClosed()) {
              Thread.sleep(20); // hold the bytes: neither forwarded nor reset
            }
            to.getOutputStream().write(buffer, 0, n);
          }
        } catch (IOException | InterruptedException e) {
          // closed
        }
      });
      pump.setDaemon(true);
      pump.start();
    }

    @Override
    public void close() throws IOException {
      server.close();
      for (java.net.Socket socket : sockets) {
        socket.close();
      }
    }
  }

  @Test
  void aStoppedServerIsNoticedWithinASecondAndItsReturnToo() throws IOException {
    long stopped = System.nanoTime();
    server.stop();
    link.send(Request.cmd(Command.PING)); // traffic, as a sidecar has
    await().atMost(Duration.ofSeconds(1)).until(() -> !link.available());
    System.out.printf("stopped server noticed after %d ms%n", (System.nanoTime() - stopped) / 1_000_000);
    long restarted = System.nanoTime();
    restartServer();
    await().atMost(Duration.ofSeconds(1)).until(link::available);
    System.out.printf("restarted server in use after %d ms%n", (System.nanoTime() - restarted) / 1_000_000);
    assertThat(events).hasSize(2).last().isEqualTo("available");
    assertThat(await(link.send(Request.cmd(Command.PING))).toString()).isEqualTo("PONG");
  }

  @Test
  void aShortPauseIsNoOutageALongOneIs() {
    otherClient(Request.cmd(Command.CLIENT).arg("PAUSE").arg("150").arg("ALL"));
    Future<Response> waited = link.send(Request.cmd(Command.PING));
    assertThat(await(waited).toString()).isEqualTo("PONG");
    assertThat(events).as("150 ms").isEmpty();

    long paused = System.nanoTime();
    otherClient(Request.cmd(Command.CLIENT).arg("PAUSE").arg("1500").arg("ALL"));
    link.send(Request.cmd(Command.PING));
    await().atMost(Duration.ofSeconds(1)).until(() -> !link.available());
    long noticed = System.nanoTime();
    await().atMost(Duration.ofMillis(2_500)).until(link::available);
    long back = System.nanoTime();
    System.out.printf("1.5 s pause noticed after %d ms, over after %d ms%n", (noticed - paused) / 1_000_000,
        (back - paused) / 1_000_000);
    assertThat((back - paused) / 1_000_000).as("within a second of Redis answering again").isLessThan(2_500);
    assertThat(events.get(0)).startsWith("unavailable: no answer for 500 ms");
  }

  private Response otherClient(Request request) {
    Redis client = Redis.createClient(vertx, "redis://127.0.0.1:" + port);
    try {
      return await(client.send(request));
    } finally {
      client.close();
    }
  }
}
