package dev.ratekeeper.helm;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The chart ships the same CRDs as the repository's crds/ (generated and checked by the operator's build). */
class ChartCrdTest {

  @Test
  void chartCrdsEqualTheTopLevelCrds() throws IOException {
    Path top = Repo.ROOT.resolve("crds");
    Path chart = Repo.CHART.resolve("crds");
    List<String> topFiles = names(top);
    assertThat(topFiles).isNotEmpty();
    assertThat(names(chart)).as("files in helm/ratekeeper/crds").isEqualTo(topFiles);
    for (String name : topFiles) {
      assertThat(Files.readString(chart.resolve(name))).as("helm/ratekeeper/crds/%s (copy crds/%s again)", name, name)
          .isEqualTo(Files.readString(top.resolve(name)));
    }
  }

  private static List<String> names(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }
}
