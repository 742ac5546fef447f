package dev.ratekeeper.policy.compile;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class GlobsTest {
  @ParameterizedTest(name = "{0} matches {1}: {2}")
  @CsvSource({
      "claude-sonnet-4-6, claude-sonnet-4-6, true",
      "claude-sonnet-4-6, claude-sonnet-4-5, false",
      "claude-sonnet-4-6, claude-sonnet-4-6-x, false",
      "claude-haiku-*, claude-haiku-4-5, true",
      "claude-haiku-*, claude-haiku-, true",
      "claude-haiku-*, claude-sonnet-4-6, false",
      "*, anything, true",
      "*, '', true",
      "'', '', true",
      "'', x, false",
      "claude-*-4-6, claude-opus-4-6, true",
      "claude-*-4-6, claude-opus-4-5, false",
      "gpt-4?, gpt-4o, true",
      "gpt-4?, gpt-4, false",
      "gpt-4?, gpt-4oo, false",
      "gpt-4.1, gpt-401, false",
      "gpt-4.1*, gpt-4.1-mini, true",
      "a*b*c, aXbYbZc, true",
      "a*b*c, aXbYbZ, false",
      "*mini, gpt-4o-mini, true",
      "**, x, true",
      "[a]*, a, false",
  })
  void starMatchesAnyRunQuestionMarkOneCharacterRestIsLiteral(String pattern, String model, boolean matches) {
    assertThat(Globs.matches(pattern, model)).isEqualTo(matches);
  }

  @Test
  void onlyStarAndQuestionMarkMakeAGlob() {
    assertThat(Globs.isGlob("claude-*")).isTrue();
    assertThat(Globs.isGlob("gpt-4?")).isTrue();
    assertThat(Globs.isGlob("gpt-4.1")).isFalse();
    assertThat(Globs.isGlob("models/[x]")).isFalse();
  }

  @Test
  void pathologicalPatternsStayFast() {
    String text = "a".repeat(10_000);
    assertThat(Globs.matches("*a*a*a*a*a*a*a*b", text)).isFalse();
  }
}
