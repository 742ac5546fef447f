package dev.ratekeeper.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** Redis URLs are checked once, and a password never shows. */
class RedisEndpointTest {
  static Command command() {
    return Command.named("rk", "rk").add(RedisEndpoint.SETTINGS);
  }

  @Test
  void plainUrl() {
    RedisEndpoint r = RedisEndpoint.parse("redis://redis.ratekeeper:6380", null);
    assertThat(r.host()).isEqualTo("redis.ratekeeper");
    assertThat(r.port()).isEqualTo(6380);
    assertThat(r.tls()).isFalse();
    assertThat(r.password()).isNull();
    assertThat(r.database()).isZero();
    assertThat(RedisEndpoint.parse("redis://localhost", null).port()).isEqualTo(6379);
  }

  @Test
  void tlsUserPasswordAndDatabaseFromTheUrl() {
    RedisEndpoint r = RedisEndpoint.parse("rediss://ops:s3cr%40t@redis.example:6379/2", null);
    assertThat(r.tls()).isTrue();
    assertThat(r.user()).isEqualTo("ops");
    assertThat(r.password()).isEqualTo("s3cr@t");
    assertThat(r.passwordInUrl()).isTrue();
    assertThat(r.database()).isEqualTo(2);
    assertThat(r.address()).isEqualTo("rediss://redis.example:6379/2");
    assertThat(r.url()).isEqualTo("rediss://ops:s3cr%40t@redis.example:6379/2");
    assertThat(r.redactedUrl()).isEqualTo("rediss://***@redis.example:6379/2");
    assertThat(r.toString()).doesNotContain("s3cr").contains("with password");
  }

  @Test
  void aSeparatePasswordWinsAndIsNeverShown() {
    Map<String, String> env = Map.of("RATEKEEPER_REDIS_URL", "redis://:inurl@10.0.0.5",
        "RATEKEEPER_REDIS_PASSWORD", "fromenv");
    RedisEndpoint fromEnv = RedisEndpoint.read(command().read(new String[0], env), null);
    assertThat(fromEnv.password()).isEqualTo("fromenv");
    assertThat(fromEnv.toString()).doesNotContain("fromenv").doesNotContain("inurl");
    RedisEndpoint fromFlag = RedisEndpoint.read(command().read(new String[] {"--redis-password", "fromflag"}, env),
        null);
    assertThat(fromFlag.password()).isEqualTo("fromflag");
    assertThat(RedisEndpoint.read(command().read(new String[0], Map.of()), null)).as("no Redis").isNull();
    assertThat(RedisEndpoint.read(command().read(new String[0], Map.of()), "redis://127.0.0.1:6379").address())
        .isEqualTo("redis://127.0.0.1:6379");
  }

  @Test
  void badUrlsAreRefusedWithoutEchoingCredentials() {
    assertThatThrownBy(() -> RedisEndpoint.parse("http://localhost:6379", null))
        .hasMessage("expected redis://host:port or rediss://host:port; the value given is not one (not shown)");
    assertThatThrownBy(() -> RedisEndpoint.parse("redis://u:hunter2@localhost/x", null))
        .hasMessageContaining("database number").hasMessageNotContaining("hunter2");
    assertThatThrownBy(() -> RedisEndpoint.parse("redis://u:hunter2@ bad host", null))
        .hasMessageNotContaining("hunter2");
    assertThatThrownBy(() -> RedisEndpoint.parse("http://admin:hunter2@x", null))
        .hasMessage("expected redis://host:port or rediss://host:port; the value given is not one (not shown)");
    assertThatThrownBy(() -> RedisEndpoint.parse("admin:hunter2@x", null)).hasMessageNotContaining("hunter2");
    Inputs in = command().read(new String[] {"--redis", "redis://:hunter2@"}, Map.of());
    assertThat(RedisEndpoint.read(in, null)).isNull();
    assertThat(in.problems()).singleElement().asString().startsWith("--redis: expected redis://")
        .doesNotContain("hunter2");
  }

  @Test
  void passwordsThatMoveTheUrlsPartsAroundAreNeverQuoted() {
    // a '/' in a password ends the authority early: the rest looked like a path or a host
    for (String url : new String[] {"redis://:pa/ss@host:6379", "redis://user:123/def@host", "redis://:a?b@host",
        "redis://:a#b@host"}) {
      assertThatThrownBy(() -> RedisEndpoint.parse(url, null)).as(url)
          .satisfies(e -> assertThat(e.getMessage()).doesNotContain("pa/ss", "def", "ss@", "a?b", "a#b", "b@host"));
    }
    Inputs in = command().read(new String[] {"--redis", "redis://:pa/ss@h:1"}, Map.of());
    assertThat(RedisEndpoint.read(in, null)).isNull();
    assertThat(in.problems()).singleElement().asString().doesNotContain("pa/ss").doesNotContain("ss@");
  }

  @Test
  void aQueryStringIsRefusedNotMissed() {
    // clients such as Vert.x's read ?password= and ?user=: refused, so no password hides in a logged URL
    assertThatThrownBy(() -> RedisEndpoint.parse("redis://redis.svc:6379?password=s3cret", null))
        .hasMessageContaining("no query string").hasMessageNotContaining("s3cret");
    assertThatThrownBy(() -> RedisEndpoint.parse("redis://redis.svc:6379/0#s3cret", null))
        .hasMessageNotContaining("s3cret");
  }

  @Test
  void aPortOutOfRangeIsRefused() {
    assertThatThrownBy(() -> RedisEndpoint.parse("redis://redis:99999", null)).hasMessageContaining("65535");
  }

  @Test
  void redactionHidesAllUserInformation() {
    assertThat(RedisEndpoint.redact("redis://:hunter2@redis:6379")).isEqualTo("redis://***@redis:6379");
    // a password that itself holds an @ is redacted whole
    assertThat(RedisEndpoint.redact("redis://user:p@ss@redis:6379/0")).isEqualTo("redis://***@redis:6379/0");
    assertThat(RedisEndpoint.redact("rediss://redis:6379")).isEqualTo("rediss://redis:6379");
    // a '/' in the password does not end the redaction early
    assertThat(RedisEndpoint.redact("redis://:pa/ss@redis:6379")).isEqualTo("redis://***@redis:6379");
  }

  @Test
  void loopbackHostsAreRecognised() {
    assertThat(RedisEndpoint.parse("redis://127.0.0.1:6379", null).loopback()).isTrue();
    assertThat(RedisEndpoint.parse("redis://localhost", null).loopback()).isTrue();
    assertThat(RedisEndpoint.parse("redis://[::1]:6379", null).loopback()).isTrue();
    assertThat(RedisEndpoint.parse("redis://redis.rk.svc:6379", null).loopback()).isFalse();
  }
}
