package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.store.EmbeddedRedis.await;
import static dev.ratekeeper.sidecar.store.EmbeddedRedis.call;
import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Context;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link RedisLink} keeps a command on the event loop it was sent from: with a connection per loop, as
 * the sidecar opens them, what a proxy server's loop sends goes out on that loop's own connection and
 * is answered on that thread, with no hop to another loop and back.
 */
class RedisLinkLoopsTest {
  private static final int LOOPS = 2;
  private EmbeddedRedis redis;
  private Vertx vertx;
  private RedisLink link;

  @BeforeEach
  void start() {
    redis = new EmbeddedRedis();
    vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(LOOPS));
    link = await(RedisLink.open(vertx, new RedisOptions().setConnectionString(redis.url()), LOOPS, System::nanoTime,
        RedisLimiterStore::loadScripts));
  }

  @AfterEach
  void stop() {
    await(link.close());
    await(vertx.close());
    redis.close();
  }

  @Test
  void eachLoopSendsOnItsOwnConnectionAndIsAnsweredOnItsOwnThread() {
    List<Context> servers = serverContexts();
    List<Set<Long>> idsPerLoop = new ArrayList<>();
    for (Context server : servers) {
      Promise<Set<Long>> seen = Promise.promise();
      server.runOnContext(v -> {
        Thread loop = Thread.currentThread();
        List<Future<Long>> ids = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
          ids.add(link.send(Request.cmd(Command.CLIENT).arg("ID")).map(answer -> {
            // answered on the sending loop's thread, in the sender's context
            assertThat(Thread.currentThread()).isSameAs(loop);
            assertThat(Vertx.currentContext()).isSameAs(server);
            return answer.toLong();
          }));
        }
        Future.all(ids).map(all -> new HashSet<Long>(all.list())).onComplete(seen);
      });
      idsPerLoop.add(await(seen.future()));
    }
    // each loop used exactly one connection, and not the other loop's: every command stayed on its loop
    assertThat(idsPerLoop).allSatisfy(ids -> assertThat(ids).hasSize(1));
    assertThat(idsPerLoop.get(0)).doesNotContainAnyElementsOf(idsPerLoop.get(1));
  }

  @Test
  void aQueuedCommandIsAnsweredOnItsSendersLoopWhicheverLoopSendsIt() throws Exception {
    // one connection, whose re-open waits until the test lets it finish: meanwhile a command sent
    // from the other loop waits in the queue, and the connection's own loop sends it once it is back
    CompletableFuture<Thread> connectionLoop = new CompletableFuture<>();
    AtomicInteger warmUps = new AtomicInteger();
    CountDownLatch reopening = new CountDownLatch(1);
    Promise<Void> reopened = Promise.promise();
    RedisLink one = await(RedisLink.open(vertx, new RedisOptions().setConnectionString(redis.url()), 1,
        System::nanoTime, send -> {
      connectionLoop.complete(Thread.currentThread());
      if (warmUps.incrementAndGet() == 1) {
        return RedisLimiterStore.loadScripts(send);
      }
      reopening.countDown();
      return reopened.future();
    }));
    try {
      Thread ownLoop = connectionLoop.get(10, TimeUnit.SECONDS);
      Context sender = null;
      for (Context server : serverContexts()) {
        CompletableFuture<Thread> thread = new CompletableFuture<>();
        server.runOnContext(v -> thread.complete(Thread.currentThread()));
        if (thread.get(10, TimeUnit.SECONDS) != ownLoop) {
          sender = server;
        }
      }
      assertThat(sender).as("a context on the loop without the connection").isNotNull();
      long id = await(one.send(Request.cmd(Command.CLIENT).arg("ID"))).toLong();
      RedisConnection admin = redis.connect(vertx);
      call(admin, Command.CLIENT, "KILL", "ID", id);
      assertThat(reopening.await(10, TimeUnit.SECONDS)).as("the link re-opens its connection").isTrue();

      Context from = sender;
      CountDownLatch queued = new CountDownLatch(1);
      CompletableFuture<Response> answer = new CompletableFuture<>();
      List<Object> answeredOn = new ArrayList<>();
      from.runOnContext(v -> {
        one.send(Request.cmd(Command.PING)).onComplete(result -> {
          answeredOn.add(Thread.currentThread());
          answeredOn.add(Vertx.currentContext());
          if (result.succeeded()) {
            answer.complete(result.result());
          } else {
            answer.completeExceptionally(result.cause());
          }
        });
        queued.countDown();
      });
      assertThat(queued.await(10, TimeUnit.SECONDS)).isTrue();
      reopened.complete();

      assertThat(answer.get(10, TimeUnit.SECONDS).toString()).isEqualTo("PONG");
      CompletableFuture<Thread> senderThread = new CompletableFuture<>();
      from.runOnContext(v -> senderThread.complete(Thread.currentThread()));
      // answered on the sender's loop and context, as RedisLink#send promises, not on the loop that sent it
      assertThat(answeredOn).containsExactly(senderThread.get(10, TimeUnit.SECONDS), from);
    } finally {
      await(one.close());
    }
  }

  /** Contexts on every event loop, as the proxy's servers get them: the instances of one deployment. */
  private List<Context> serverContexts() {
    List<Context> contexts = new ArrayList<>();
    await(vertx.deployVerticle(() -> new VerticleBase() {
      @Override
      public Future<?> start() {
        synchronized (contexts) {
          contexts.add(context);
        }
        return Future.succeededFuture();
      }
    }, new DeploymentOptions().setInstances(LOOPS)));
    assertThat(contexts).hasSize(LOOPS);
    return contexts;
  }
}
