package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.store.EmbeddedRedis.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

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
  void start() throws IOException {
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort();
    }
    startServer();
    vertx = Vertx.vertx();
    link = await(RedisLink.open(vertx, new RedisOptions().setConnectionString("redis://127.0.0.1:" + port),
        RedisLink.CONNECTIONS, RedisLimiterStore::loadScripts));
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
    link.close();
    await(vertx.close());
    server.stop();
  }

  private void startServer() throws IOException {
    server = RedisServer.newRedisServer().port(port).bind("127.0.0.1").setting("save \"\"").setting("appendonly no")
        .build();
    server.start();
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
  void killedConnectionsThatReopenAreNoOutage() {
    assertThat(await(link.send(Request.cmd(Command.PING))).toString()).isEqualTo("PONG");
    otherClient(Request.cmd(Command.CLIENT).arg("KILL").arg("TYPE").arg("normal"));
    await().atMost(Duration.ofSeconds(2)).ignoreExceptions().untilAsserted(() ->
        assertThat(await(link.send(Request.cmd(Command.PING))).toString()).isEqualTo("PONG"));
    assertThat(events).isEmpty();
    assertThat(link.available()).isTrue();
  }

  @Test
  void aStoppedServerIsNoticedWithinASecondAndItsReturnToo() throws IOException {
    long stopped = System.nanoTime();
    server.stop();
    link.send(Request.cmd(Command.PING)); // traffic, as a sidecar has
    await().atMost(Duration.ofSeconds(1)).until(() -> !link.available());
    System.out.printf("stopped server noticed after %d ms%n", (System.nanoTime() - stopped) / 1_000_000);
    long restarted = System.nanoTime();
    startServer();
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
