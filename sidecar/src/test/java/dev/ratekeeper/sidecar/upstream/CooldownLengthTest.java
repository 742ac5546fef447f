package dev.ratekeeper.sidecar.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.MultiMap;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class CooldownLengthTest {
  private static final Instant NOW = Instant.parse("2026-11-23T12:00:00Z");

  private static long length(String... headers) {
    MultiMap map = MultiMap.caseInsensitiveMultiMap();
    for (int i = 0; i < headers.length; i += 2) {
      map.add(headers[i], headers[i + 1]);
    }
    return CooldownLength.fromHeaders(map, NOW);
  }

  @Test
  void retryAfterMsWinsThenRetryAfterInSecondsOrAsADate() {
    assertThat(length("retry-after-ms", "1500", "retry-after", "9")).isEqualTo(1500);
    assertThat(length("retry-after", "2")).isEqualTo(2000);
    assertThat(length("retry-after", "Mon, 23 Nov 2026 12:00:07 GMT")).isEqualTo(7000);
  }

  @Test
  void withoutRetryAfterTheExhaustedDimensionsResetCounts() {
    assertThat(length("anthropic-ratelimit-requests-remaining", "12",
        "anthropic-ratelimit-requests-reset", "2026-11-23T12:00:30Z",
        "anthropic-ratelimit-tokens-remaining", "0",
        "anthropic-ratelimit-tokens-reset", "2026-11-23T12:00:04Z")).isEqualTo(4000);
    assertThat(length("x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "2.5s",
        "x-ratelimit-remaining-tokens", "5", "x-ratelimit-reset-tokens", "6m0s")).isEqualTo(2_500);
  }

  @Test
  void cappedAtAMinuteWithADefaultWhenTheProviderSaysNothing() {
    assertThat(length("retry-after", "3600")).isEqualTo(60_000);
    assertThat(length()).isEqualTo(CooldownLength.DEFAULT_MS);
    assertThat(length("retry-after", "soon")).isEqualTo(CooldownLength.DEFAULT_MS);
  }

  @Test
  void goDurations() {
    assertThat(CooldownLength.goDuration("20ms")).isEqualTo(20);
    assertThat(CooldownLength.goDuration("1h2m3s")).isEqualTo(3_723_000);
    assertThat(CooldownLength.goDuration("6x")).isEqualTo(-1);
  }

  @Test
  void aNearlySpentProviderQuotaPausesUntilItsReset() {
    MultiMap low = MultiMap.caseInsensitiveMultiMap()
        .add("anthropic-ratelimit-requests-limit", "1000").add("anthropic-ratelimit-requests-remaining", "20")
        .add("anthropic-ratelimit-requests-reset", "2026-11-23T12:00:09Z");
    assertThat(CooldownLength.untilNearlySpentResets(low, NOW, 2)).isEqualTo(9000);
    MultiMap plenty = MultiMap.caseInsensitiveMultiMap()
        .add("x-ratelimit-limit-tokens", "100000").add("x-ratelimit-remaining-tokens", "2001")
        .add("x-ratelimit-reset-tokens", "3s");
    assertThat(CooldownLength.untilNearlySpentResets(plenty, NOW, 2)).isEqualTo(-1);
    plenty.set("x-ratelimit-remaining-tokens", "2000");
    assertThat(CooldownLength.untilNearlySpentResets(plenty, NOW, 2)).isEqualTo(3000);
    assertThat(CooldownLength.untilNearlySpentResets(MultiMap.caseInsensitiveMultiMap(), NOW, 2)).isEqualTo(-1);
  }
}
