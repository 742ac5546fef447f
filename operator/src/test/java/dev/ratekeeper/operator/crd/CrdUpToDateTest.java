package dev.ratekeeper.operator.crd;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The CRD users apply ({@code crds/}) is the one the build generates from the API classes. After
 * changing them, refresh it with
 * {@code ./mvnw -B -pl policy,operator -am verify -Dtest=CrdUpToDateTest -Dsurefire.failIfNoSpecifiedTests=false -Dratekeeper.refreshCrd=true}.
 */
class CrdUpToDateTest {
  static final String REFRESH = "ratekeeper.refreshCrd";

  @Test
  void checkedInCrdEqualsTheGeneratedOne() throws IOException {
    String generated = Crds.generatedText();
    Path checkedIn = Crds.checkedIn();
    if (Boolean.getBoolean(REFRESH)) {
      Files.createDirectories(checkedIn.getParent());
      Files.writeString(checkedIn, generated, StandardCharsets.UTF_8);
    }

    assertThat(checkedIn).withFailMessage("%s is missing; %s", checkedIn, howToRefresh()).exists();
    String actual = Files.readString(checkedIn, StandardCharsets.UTF_8);
    assertThat(actual).withFailMessage(() -> Crds.root().relativize(checkedIn) + " differs from the CRD generated from"
        + " the API classes (operator/target/classes" + Crds.GENERATED_RESOURCE + ")" + firstDifference(actual, generated)
        + "\n" + howToRefresh()).isEqualTo(generated);
  }

  private static String firstDifference(String actual, String generated) {
    List<String> a = actual.lines().toList();
    List<String> g = generated.lines().toList();
    for (int i = 0; i < Math.max(a.size(), g.size()); i++) {
      String left = i < a.size() ? a.get(i) : "<end of file>";
      String right = i < g.size() ? g.get(i) : "<end of file>";
      if (!left.equals(right)) {
        return ", first at line " + (i + 1) + ":\n  checked in: " + left + "\n  generated:  " + right;
      }
    }
    return " (line endings only)";
  }

  private static String howToRefresh() {
    return "Refresh it with: ./mvnw -B -pl policy,operator -am verify -Dtest=CrdUpToDateTest"
        + " -Dsurefire.failIfNoSpecifiedTests=false -D" + REFRESH + "=true (then review and commit crds/)";
  }
}
