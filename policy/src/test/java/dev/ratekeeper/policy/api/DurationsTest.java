package dev.ratekeeper.policy.api;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.NullSource;
import org.junit.jupiter.params.provider.ValueSource;

class DurationsTest {
  @ParameterizedTest(name = "{0} = {1} ms")
  @CsvSource({
      "0s, 0",
      "500ms, 500",
      "2s, 2000",
      "5m, 300000",
      "1m30s, 90000",
      "1h, 3600000",
      "1h2m3s4ms, 3723004",
  })
  void parsesGoStyleDurationsToMilliseconds(String text, long millis) {
    assertThat(Durations.parseMillis(text)).contains(millis);
  }

  @ParameterizedTest(name = "\"{0}\" is not a duration")
  @NullSource
  @ValueSource(strings = {"", "2", "s", "1.5s", "2 s", " 2s", "-1s", "1d", "2S", "1m 30s",
      "99999999999999999999ms", "9223372036854775807h"})
  void rejectsWhatDoesNotParseOrOverflows(String text) {
    assertThat(Durations.parseMillis(text)).isEmpty();
  }
}
