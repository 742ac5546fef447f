package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.store.EmbeddedRedis.await;

import io.vertx.core.Vertx;
import io.vertx.redis.client.RedisConnection;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real redis-server ({@link EmbeddedRedis}) with a Vert.x instance and one connection to it, for
 * the whole test class: {@code @RegisterExtension static final ConnectedRedis REDIS = new ConnectedRedis();}
 */
final class ConnectedRedis implements BeforeAllCallback, AfterAllCallback {
  private EmbeddedRedis server;
  private Vertx vertx;
  private RedisConnection connection;

  @Override
  public void beforeAll(ExtensionContext context) {
    server = new EmbeddedRedis();
    vertx = Vertx.vertx();
    connection = server.connect(vertx);
  }

  @Override
  public void afterAll(ExtensionContext context) {
    await(vertx.close());
    server.close();
  }

  RedisConnection connection() {
    return connection;
  }

  Vertx vertx() {
    return vertx;
  }

  /** Another connection, of {@code other}. */
  RedisConnection connect(Vertx other) {
    return server.connect(other);
  }

  String url() {
    return server.url();
  }

  int port() {
    return server.port();
  }
}
