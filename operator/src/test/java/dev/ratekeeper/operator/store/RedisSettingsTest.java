package dev.ratekeeper.operator.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class RedisSettingsTest {
  @Test
  void plainUrl() {
    RedisSettings s = RedisSettings.parse("redis://redis.ratekeeper:6380", null);

    assertThat(s.host()).isEqualTo("redis.ratekeeper");
    assertThat(s.port()).isEqualTo(6380);
    assertThat(s.tls()).isFalse();
    assertThat(s.password()).isNull();
    assertThat(s.database()).isZero();
  }

  @Test
  void tlsUserPasswordAndDatabaseFromTheUrl() {
    RedisSettings s = RedisSettings.parse("rediss://ops:s3cr%40t@redis.example:6379/2", null);

    assertThat(s.tls()).isTrue();
    assertThat(s.user()).isEqualTo("ops");
    assertThat(s.password()).isEqualTo("s3cr@t");
    assertThat(s.database()).isEqualTo(2);
    assertThat(s.address()).isEqualTo("rediss://redis.example:6379/2");
  }

  @Test
  void aSeparatePasswordWinsAndIsNeverShown() {
    RedisSettings s = RedisSettings.parse("redis://:inurl@localhost", "fromflag");

    assertThat(s.port()).isEqualTo(6379);
    assertThat(s.password()).isEqualTo("fromflag");
    assertThat(s.toString()).doesNotContain("fromflag").doesNotContain("inurl").contains("with password");
  }

  @Test
  void badUrlsAreRefusedWithoutEchoingCredentials() {
    assertThatThrownBy(() -> RedisSettings.parse("http://localhost:6379", null))
        .hasMessageContaining("expected redis://host:port");
    assertThatThrownBy(() -> RedisSettings.parse("redis://u:hunter2@localhost/x", null))
        .hasMessageContaining("database number");
    assertThatThrownBy(() -> RedisSettings.parse("redis://u:hunter2@ bad host", null))
        .hasMessageNotContaining("hunter2");
  }
}
