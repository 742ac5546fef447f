package dev.ratekeeper.sidecar.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Every spelling of a path reduces to one canonical path, or is refused. */
class CanonicalPathTest {

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
      "/v1/messages, /v1/messages",
      "//v1/messages, /v1/messages",
      "/v1//messages, /v1/messages",
      "/v1/messages/, /v1/messages",
      "/v1/%6Dessages, /v1/messages",
      "/v1/%6dessages, /v1/messages",
      "/%61nthropic/v1/messages, /anthropic/v1/messages",
      "/v1/./messages, /v1/messages",
      "/anthropic/v1/x/../messages, /anthropic/v1/messages",
      "/v1/%2e/messages, /v1/messages",
      "/anthropic/v1/%2E%2E/v1/messages, /anthropic/v1/messages",
      "/V1/Messages, /V1/Messages",
      "/v1/files/file%20id, /v1/files/file%20id",
      "/v1/files/file%3aid, /v1/files/file%3Aid",
      "/, /"})
  void spellingsReduceToOneCanonicalPath(String raw, String canonical) {
    assertThat(CanonicalPath.of(raw)).isEqualTo(new CanonicalPath.Canonical(canonical, null));
  }

  @ParameterizedTest
  @ValueSource(strings = {"/v1%2Fmessages", "/v1%2fmessages", "/v1%5Cmessages", "/v1\\messages", "/v1/messages%00",
      "/v1/messages%0a", "/v1/messages;x=1", "/v1/messages%", "/v1/messages%zz", "/v1/messages%4",
      "/x/../v1/messages", "/anthropic/../tenant-b/v1/messages", "/../v1/messages", "/v1/../../messages",
      "v1/messages", "http://api.anthropic.com/v1/messages", "*", "", "/v1/mess\u00e4ges", "/v1/messages#frag",
      "/v1/\u0000messages"})
  void whatCannotBeMadeCanonicalIsRefused(String raw) {
    assertThat(CanonicalPath.of(raw)).isInstanceOf(CanonicalPath.Refused.class);
  }

  @org.junit.jupiter.api.Test
  void theQueryStringIsKeptAsSentAndLongPathsAreRefused() {
    assertThat(CanonicalPath.of("//v1/messages?beta=true&x=%2F")).isEqualTo(
        new CanonicalPath.Canonical("/v1/messages", "beta=true&x=%2F"));
    assertThat(CanonicalPath.of("/" + "a/".repeat(40))).isInstanceOf(CanonicalPath.Refused.class);
    assertThat(CanonicalPath.of("/" + "a".repeat(5000))).isInstanceOf(CanonicalPath.Refused.class);
  }
}
