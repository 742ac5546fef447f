package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.store.EmbeddedRedis.await;
import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Vertx;
import io.vertx.redis.client.RedisOptions;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;

/**
 * A closed {@link RedisLink} leaves nothing half-undeployed: its Vert.x, closed once the link's close
 * completes (as SidecarMain's shutdown hook closes it right after the sidecar's, which waits for it),
 * has nothing to fail on and log as SEVERE.
 */
class RedisLinkCloseTest {
  @Test
  void vertxClosedRightAfterTheLinkLogsNoFailure() {
    List<String> severe = new CopyOnWriteArrayList<>();
    Logger vertxLog = Logger.getLogger("io.vertx");
    Handler capture = new Handler() {
      @Override
      public void publish(LogRecord record) {
        if (record.getLevel().intValue() >= Level.SEVERE.intValue()) {
          severe.add(record.getLoggerName() + ": " + record.getMessage() + " " + record.getThrown());
        }
      }

      @Override
      public void flush() {}

      @Override
      public void close() {}
    };
    vertxLog.addHandler(capture);
    try (EmbeddedRedis redis = new EmbeddedRedis()) {
      for (int i = 0; i < 5; i++) {
        Vertx vertx = Vertx.vertx();
        RedisLink link = await(RedisLink.open(vertx, new RedisOptions().setConnectionString(redis.url()),
            RedisLink.CONNECTIONS, System::nanoTime, RedisLimiterStore::loadScripts));
        await(link.close());
        await(vertx.close());
      }
    } finally {
      vertxLog.removeHandler(capture);
    }
    assertThat(severe).isEmpty();
  }
}
