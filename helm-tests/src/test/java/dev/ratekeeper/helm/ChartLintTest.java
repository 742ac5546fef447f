package dev.ratekeeper.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.marcnuri.helm.LintResult;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** helm lint --strict passes for the defaults and every values combination. */
class ChartLintTest {

  @ParameterizedTest(name = "{0}")
  @MethodSource("dev.ratekeeper.helm.Cases#all")
  void lintsStrictly(String caseName) {
    LintResult result = Chart.lint(caseName);
    assertThat(result.isFailed()).as("helm lint --strict %s: %s", caseName, result.getMessages()).isFalse();
    // INFO messages pass --strict; anything louder is a finding
    assertThat(result.getMessages()).as("lint messages").allMatch(m -> m.startsWith("[INFO]"));
  }
}
