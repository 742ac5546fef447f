package dev.ratekeeper.helm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Files of the repository these tests check the chart against (root from -Dratekeeper.root). */
final class Repo {
  static final Path ROOT = Path.of(System.getProperty("ratekeeper.root", "..")).toAbsolutePath().normalize();
  static final Path CHART = ROOT.resolve("helm/ratekeeper");

  static final Path OPERATOR_SRC = ROOT.resolve("operator/src/main/java/dev/ratekeeper/operator");
  static final Path OPERATOR_CONFIG = OPERATOR_SRC.resolve("OperatorConfig.java");
  static final Path OPERATOR_METRICS = OPERATOR_SRC.resolve("admin/OperatorMetrics.java");
  static final Path WEBHOOK_CONFIG = OPERATOR_SRC.resolve("webhook/WebhookConfig.java");
  static final Path WEBHOOK_METRICS = OPERATOR_SRC.resolve("webhook/WebhookMetrics.java");
  static final Path INJECTION_SETTINGS = OPERATOR_SRC.resolve("webhook/inject/InjectionSettings.java");
  static final Path SIDECAR_CONTAINER = OPERATOR_SRC.resolve("webhook/inject/SidecarContainer.java");
  static final Path SIDECAR_MODE = OPERATOR_SRC.resolve("webhook/inject/SidecarMode.java");
  static final Path MISSING_POLICY_ACTION = OPERATOR_SRC.resolve("webhook/inject/MissingPolicyAction.java");
  static final Path SIDECAR_METRICS = ROOT.resolve("sidecar/src/main/java/dev/ratekeeper/sidecar/metrics/SidecarMetrics.java");
  static final Path SIDECAR_CONFIG = ROOT.resolve("sidecar/src/main/java/dev/ratekeeper/sidecar/config/SidecarConfig.java");
  static final Path CLI_SRC = ROOT.resolve("cli/src/main/java/dev/ratekeeper/cli");
  /** The Redis flags and variables every program reads. */
  static final Path REDIS_ENDPOINT = CLI_SRC.resolve("RedisEndpoint.java");
  static final Path DURATIONS = ROOT.resolve("policy/src/main/java/dev/ratekeeper/policy/api/Durations.java");

  private Repo() {}

  static String read(Path file) {
    try {
      return Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + ROOT.relativize(file) + " (ratekeeper.root=" + ROOT + ")", e);
    }
  }

  static String read(String relative) {
    return read(ROOT.resolve(relative));
  }

  /** Group 1 of every match of {@code regex} in the file, in order, without repeats. */
  static Set<String> all(Path file, String regex) {
    Set<String> found = new LinkedHashSet<>();
    Matcher m = Pattern.compile(regex).matcher(read(file));
    while (m.find()) {
      found.add(m.group(1));
    }
    return found;
  }

  /** Group 1 of the one match of {@code regex} in the file; fails when there is none. */
  static String one(Path file, String regex) {
    return match(read(file), regex, ROOT.relativize(file).toString());
  }

  /** Group 1 of the first match of {@code regex} in {@code text} (named {@code what}); fails when there is none. */
  static String match(String text, String regex, String what) {
    Matcher m = Pattern.compile(regex).matcher(text);
    if (!m.find()) {
      throw new AssertionError(what + " has nothing matching " + regex
          + ": it changed; update this test and the chart together");
    }
    return m.group(1);
  }

  /** The value of a {@code static final String NAME = "...";} constant in a source file. */
  static String constant(Path file, String name) {
    return one(file, "\\b" + Pattern.quote(name) + "\\s*=\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");
  }

  /** The value of a {@code static final int NAME = 123;} constant in a source file. */
  static int intConstant(Path file, String name) {
    return Integer.parseInt(one(file, "\\b" + Pattern.quote(name) + "\\s*=\\s*([0-9]+)\\s*;"));
  }

  /** The constants of the one enum declared in a source file. */
  static List<String> enumConstants(Path file) {
    String code = read(file).replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\\n]*", " ");
    String body = match(code, "enum\\s+\\w+\\s*\\{([^;}]*)", ROOT.relativize(file).toString());
    return Pattern.compile("[,\\s]+").splitAsStream(body)
        .map(String::strip).filter(s -> s.matches("[A-Za-z_][A-Za-z0-9_]*")).toList();
  }
}
