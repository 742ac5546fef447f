package dev.ratekeeper.operator.webhook.inject;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import dev.ratekeeper.operator.webhook.PodPatch;
import io.fabric8.zjsonpatch.JsonPatch;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Golden files: {@code testdata/pods/<case>.yaml} → {@code <case>.yaml.injected}, the injected pod
 * (or the refusal) exactly as the injector produces it. Refresh them after an intended change with
 * {@code ./mvnw -B -q -pl operator -am test -Dtest=SidecarInjectorGoldenTest
 * -Dsurefire.failIfNoSpecifiedTests=false -Dratekeeper.refreshGolden=true} and review the diff.
 *
 * <p>Besides the text, every case checks that the JSON Patch the webhook would send, applied to the
 * pod as the API server holds it, gives the golden pod.
 */
class SidecarInjectorGoldenTest {
  static final boolean REFRESH = Boolean.getBoolean("ratekeeper.refreshGolden");

  /** The cases the injector must keep covering; deleting one of their files fails here. */
  static final Set<String> REQUIRED = Set.of("plain-pod", "deployment-template", "env-base-urls",
      "envfrom-base-urls", "own-init-containers", "already-injected", "no-label", "missing-policy",
      "missing-policy-admit", "ambiguous-policy", "annotated-policy", "unknown-annotated-policy",
      "upstream-credentials", "container-mode", "gateway", "gateway-annotated-url", "gateway-none");

  @TestFactory
  Stream<DynamicTest> injectsAsTheGoldenFilesSay() {
    return GoldenCase.all().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> check(c)));
  }

  @Test
  void everyRequiredCaseHasItsFiles() throws IOException {
    Set<String> cases;
    Set<String> golden;
    try (Stream<Path> files = Files.list(GoldenCase.dir())) {
      List<String> names = files.map(p -> p.getFileName().toString()).toList();
      cases = names.stream().filter(n -> n.endsWith(".yaml")).map(n -> n.replaceFirst("\\.yaml$", ""))
          .collect(Collectors.toCollection(TreeSet::new));
      golden = names.stream().filter(n -> n.endsWith(".yaml.injected"))
          .map(n -> n.replaceFirst("\\.yaml\\.injected$", "")).collect(Collectors.toCollection(TreeSet::new));
    }
    assertThat(cases).containsAll(REQUIRED);
    if (!REFRESH) {
      assertThat(golden).as("every case has a .injected file and every .injected file a case").isEqualTo(cases);
    }
  }

  private static void check(GoldenCase c) throws IOException {
    InjectionOutcome outcome = new SidecarInjector(c.settings()).inject(c.pod(), c.context());
    String rendered = render(outcome, c);
    Path expectedFile = c.expectedFile();
    if (REFRESH) {
      Files.writeString(expectedFile, rendered);
    }
    assertThat(expectedFile).as("golden file missing; create it with -Dratekeeper.refreshGolden=true").exists();
    assertThat(rendered).as("%s differs from what the injector produces; if the change is intended, refresh with"
        + " -Dratekeeper.refreshGolden=true and review the diff", expectedFile.getFileName())
        .isEqualTo(Files.readString(expectedFile));

    if (outcome instanceof InjectionOutcome.Refused) {
      return;
    }
    JsonNode goldenPod = GoldenCase.YAML.readTree(Files.readString(expectedFile));
    if (outcome instanceof InjectionOutcome.Injected injected) {
      ArrayNode patch = PodPatch.between(c.pod(), injected.pod(), GoldenCase.SERIALIZATION);
      assertThat(patch).isNotEmpty();
      assertThat(patch.findValuesAsText("op")).allMatch(op -> op.equals("add") || op.equals("replace"));
      JsonNode patched = normalized(JsonPatch.apply(patch, c.rawPod()));
      assertThat(patched).as("the JSON patch applied to the original pod gives the golden pod").isEqualTo(goldenPod);
    } else {
      assertThat(goldenPod).as("a skipped pod stays as it is").isEqualTo(c.rawPod());
    }
  }

  /** The same JSON read back from its text: numbers compare by value, not by node type (int vs long). */
  static JsonNode normalized(JsonNode node) throws IOException {
    return GoldenCase.YAML.readTree(node.toString());
  }

  /** The .injected text: a comment with the outcome and warnings, then the pod or the refusal. */
  static String render(InjectionOutcome outcome, GoldenCase c) throws IOException {
    StringBuilder out = new StringBuilder();
    if (outcome instanceof InjectionOutcome.Injected i) {
      out.append("# outcome: Injected, policy ").append(i.policy()).append('\n');
    } else if (outcome instanceof InjectionOutcome.Skipped s) {
      out.append("# outcome: Skipped (").append(s.reason()).append("), the pod is admitted unchanged\n");
    } else {
      out.append("# outcome: Refused\n");
    }
    for (String warning : outcome.warnings()) {
      out.append("# warning: ").append(warning).append('\n');
    }
    Object body;
    if (outcome instanceof InjectionOutcome.Injected i) {
      body = GoldenCase.SERIALIZATION.convertValue(i.pod(), JsonNode.class);
    } else if (outcome instanceof InjectionOutcome.Refused r) {
      body = Map.of("refused", r.message());
    } else {
      body = GoldenCase.SERIALIZATION.convertValue(c.pod(), JsonNode.class);
    }
    out.append(GoldenCase.YAML_WRITER.writeValueAsString(body));
    return out.toString();
  }
}
