package dev.ratekeeper.operator.store;

import dev.ratekeeper.cli.RedisEndpoint;
import java.time.Duration;

/**
 * Where Redis is and how to log in: {@code redis://[user:password@]host[:port][/db]}, or
 * {@code rediss://...} for TLS (verified against the JVM's trust store). A password given apart
 * (flag or environment) wins over one in the URL. {@link #toString()} never shows the password.
 * The URL rules are {@link RedisEndpoint}'s, the same for every program.
 */
public record RedisSettings(String host, int port, boolean tls, String user, String password, int database,
    Duration timeout) {
  public static final int DEFAULT_PORT = 6379;
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(2);

  /** The settings for a Redis the command line named (parsed and checked by {@link RedisEndpoint}). */
  public static RedisSettings of(RedisEndpoint endpoint) {
    return new RedisSettings(endpoint.host(), endpoint.port(), endpoint.tls(), endpoint.user(), endpoint.password(),
        endpoint.database(), DEFAULT_TIMEOUT);
  }

  /**
   * Parses a Redis URL as the command line does ({@link RedisEndpoint#parse}).
   *
   * @throws IllegalArgumentException saying what is wrong, never with the password
   */
  public static RedisSettings parse(String url, String password) {
    return of(RedisEndpoint.parse(url, password));
  }

  public RedisSettings withTimeout(Duration timeout) {
    return new RedisSettings(host, port, tls, user, password, database, timeout);
  }

  /** The URL without credentials, for logs and messages. */
  public String address() {
    return (tls ? "rediss://" : "redis://") + host + ":" + port + (database == 0 ? "" : "/" + database);
  }

  @Override
  public String toString() {
    return address() + (password == null ? "" : " (with password)");
  }
}
