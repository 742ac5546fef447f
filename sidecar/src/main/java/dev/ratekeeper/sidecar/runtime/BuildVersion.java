package dev.ratekeeper.sidecar.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/**
 * The version of this build, as the sidecar reports it in its heartbeat: {@code version} of
 * {@code dev/ratekeeper/sidecar/build.properties}, which Maven fills in from the project's version
 * when it copies resources (so it is right in the jar and in {@code target/classes} alike).
 * {@value #UNKNOWN} when the file is missing or was not filtered (classes built outside Maven).
 */
public final class BuildVersion {
  public static final String UNKNOWN = "unknown";
  static final String RESOURCE = "/dev/ratekeeper/sidecar/build.properties";
  private static final String CURRENT = read(BuildVersion.class.getResourceAsStream(RESOURCE));

  private BuildVersion() {}

  /** This build's version, or {@value #UNKNOWN}. */
  public static String current() {
    return CURRENT;
  }

  /** The {@code version} property of {@code in} (closed here), or {@value #UNKNOWN}; {@code in} may be null. */
  static String read(InputStream in) {
    if (in == null) {
      return UNKNOWN;
    }
    Properties properties = new Properties();
    try (in) {
      properties.load(in);
    } catch (IOException | IllegalArgumentException e) {
      return UNKNOWN;
    }
    String version = properties.getProperty("version", "").strip();
    return version.isEmpty() || version.contains("${") ? UNKNOWN : version;
  }
}
