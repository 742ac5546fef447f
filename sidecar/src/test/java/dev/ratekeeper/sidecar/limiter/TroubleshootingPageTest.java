package dev.ratekeeper.sidecar.limiter;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * docs/troubleshooting.md explains every value the sidecar can put in {@code x-ratekeeper-limited-by}:
 * each {@link Dimension}, and each name the proxy writes into the header itself (found by reading the
 * sidecar's sources), has a section; and no section names a value the sidecar never sends.
 */
class TroubleshootingPageTest {
  static final Path ROOT = Path.of(System.getProperty("ratekeeper.root", ".."));
  static final Pattern LITERAL = Pattern.compile("\"x-ratekeeper-(?:shadow-)?limited-by\",\\s*\"([a-zA-Z.]+)\"");
  static final Pattern HEADING = Pattern.compile("(?m)^### (.+)$");
  static final Pattern NAME = Pattern.compile("`([a-zA-Z.]+)`");

  @Test
  void everyLimitedByValueHasASectionAndEverySectionIsAValue() throws IOException {
    Set<String> sent = new LinkedHashSet<>();
    Arrays.stream(Dimension.values()).map(Dimension::wireName).forEach(sent::add);
    try (Stream<Path> sources = Files.walk(ROOT.resolve("sidecar/src/main/java"))) {
      for (Path source : sources.filter(p -> p.toString().endsWith(".java")).toList()) {
        Matcher m = LITERAL.matcher(Files.readString(source));
        while (m.find()) {
          sent.add(m.group(1));
        }
      }
    }
    assertThat(sent).as("the proxy's own header values were found").contains("upstream.cooldown");

    Set<String> documented = new LinkedHashSet<>();
    Matcher heading = HEADING.matcher(Files.readString(ROOT.resolve("docs/troubleshooting.md")));
    while (heading.find()) {
      Matcher name = NAME.matcher(heading.group(1));
      while (name.find()) {
        documented.add(name.group(1));
      }
    }
    assertThat(documented).containsExactlyInAnyOrderElementsOf(sent);
  }
}
