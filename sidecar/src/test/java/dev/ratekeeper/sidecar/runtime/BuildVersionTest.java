package dev.ratekeeper.sidecar.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class BuildVersionTest {
  @Test
  void readsTheFilteredVersion() {
    assertThat(BuildVersion.read(stream("version=1.4.0\n"))).isEqualTo("1.4.0");
    assertThat(BuildVersion.read(stream("# comment\nversion = 0.2.0-SNAPSHOT \n"))).isEqualTo("0.2.0-SNAPSHOT");
  }

  @Test
  void unknownWithoutAFilteredFile() {
    assertThat(BuildVersion.read(null)).as("classes built outside Maven, no file").isEqualTo("unknown");
    assertThat(BuildVersion.read(stream("version=${project.version}\n"))).as("copied, not filtered")
        .isEqualTo("unknown");
    assertThat(BuildVersion.read(stream("other=1\n"))).isEqualTo("unknown");
    assertThat(BuildVersion.read(stream("version=\n"))).isEqualTo("unknown");
  }

  private static InputStream stream(String text) {
    return new ByteArrayInputStream(text.getBytes(StandardCharsets.ISO_8859_1));
  }
}
