package dev.ratekeeper.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import org.junit.jupiter.api.Test;

/** examples/agent-deployment.yaml and examples/sdk/ are what a user can apply and copy as they are. */
class ExamplesTest {

  @Test
  void agentDeploymentOptsInToThePolicyOfTheExamples() {
    agentOptsIn("examples/agent-deployment.yaml", "support-agent", "anthropic_agent.py", "ANTHROPIC_BASE_URL");
  }

  @Test
  void pythonAgentDeploymentOptsInToThePolicyOfTheExamples() {
    agentOptsIn("examples/python-agent-deployment.yaml", "research-agent", "openai_agent.py", "OPENAI_BASE_URL");
  }

  private static void agentOptsIn(String file, String name, String agentFile, String baseUrlVariable) {
    Rendered docs = new Rendered(Repo.read(file));
    for (HasMetadata o : docs.objects) {
      assertThat(Rendered.unknownFields(o)).as("unknown fields in %s", o.getKind()).isEmpty();
      assertThat(o.getMetadata().getNamespace()).as("applied to the namespace of your choice").isNull();
    }
    Deployment deployment = docs.one(Deployment.class, name);
    var template = deployment.getSpec().getTemplate();
    assertThat(template.getMetadata().getLabels()).containsEntry("ratekeeper.dev/inject", "true");
    String policy = Repo.one(Repo.ROOT.resolve("examples/policy.yaml"), "(?m)^  name:\\s*(\\S+)");
    assertThat(template.getMetadata().getAnnotations()).containsEntry("ratekeeper.dev/policy", policy);
    assertThat(deployment.getSpec().getSelector().getMatchLabels().entrySet())
        .isSubsetOf(template.getMetadata().getLabels().entrySet());

    Container app = template.getSpec().getContainers().get(0);
    // the webhook sets the SDKs' base URLs only where the pod does not: the example leaves them to it
    assertThat(app.getEnv()).extracting(EnvVar::getName).doesNotContain("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL")
        .contains("AGENT_USER");
    assertThat(app.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();

    // the agent it runs is examples/sdk/<agentFile>, word for word, and reads the variable the webhook sets
    assertThat(docs.one(ConfigMap.class, name).getData().get(agentFile))
        .isEqualTo(Repo.read("examples/sdk/" + agentFile)).contains(baseUrlVariable);
  }

  @Test
  void sdkSnippetsChangeOnlyTheUserHeaderAndTakeTheBaseUrlFromTheEnvironment() {
    String python = Repo.read("examples/sdk/anthropic_agent.py");
    String pythonOpenAi = Repo.read("examples/sdk/openai_agent.py");
    String typescript = Repo.read("examples/sdk/openai_agent.ts");
    assertThat(python).contains("\"X-Ratekeeper-User\"").contains("ANTHROPIC_BASE_URL")
        .doesNotContainPattern("(?m)^[^#]*base_url\\s*=");
    assertThat(pythonOpenAi).contains("\"X-Ratekeeper-User\"").contains("OPENAI_BASE_URL")
        .doesNotContainPattern("(?m)^[^#]*base_url\\s*=").contains("http://127.0.0.1:8787/openai/v1");
    assertThat(typescript).contains("\"X-Ratekeeper-User\"").contains("OPENAI_BASE_URL")
        .doesNotContainPattern("(?m)^[^/]*baseURL\\s*:");
    // the base URLs the comments promise are the ones DESIGN.md has the webhook set
    assertThat(python).contains("http://127.0.0.1:8787/anthropic");
    assertThat(typescript).contains("http://127.0.0.1:8787/openai/v1");
  }
}
