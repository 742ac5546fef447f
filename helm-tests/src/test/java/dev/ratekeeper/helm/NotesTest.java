package dev.ratekeeper.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.marcnuri.helm.DryRun;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.InstallCommand;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** NOTES.txt (shown by helm install) tells the next steps. Rendered by a client-only dry-run install. */
class NotesTest {

  static String notes(Map<String, Object> sets) {
    InstallCommand install = new Helm(Repo.CHART).install().withName(Chart.RELEASE).withNamespace(Chart.NAMESPACE)
        .withKubeVersion(Chart.KUBE_VERSION).clientOnly().dryRun().withDryRunOption(DryRun.CLIENT);
    sets.forEach(install::set);
    String output = install.call().getOutput();
    assertThat(output).contains("NOTES:");
    return output.substring(output.indexOf("NOTES:"));
  }

  @Test
  void tellsTheNextSteps() {
    String notes = notes(Map.of());
    assertThat(notes)
        .contains("kubectl apply -n agents -f examples/policy.yaml")
        .contains("kubectl get rlp")
        .contains("ratekeeper.dev/inject")
        .contains("ratekeeper.dev/policy")
        .contains("helm test " + Chart.RELEASE)
        // the sidecars' password Secret, with the command that copies it
        .contains("kubectl create secret generic ratekeeper-redis-password -n agents")
        .contains("failurePolicy is Fail");
  }

  @Test
  void saysWhereTheChartCopiedThePasswordAndWhatIgnoreMeans() {
    String notes = notes(Map.of("watchNamespaces[0]", "team-a", "webhook.failurePolicy", "Ignore",
        "redis.persistence.enabled", false));
    assertThat(notes).contains("The chart created it in: team-a")
        .contains("runs WITHOUT limits")
        .contains("NO persistence");
  }

  @Test
  void namesTheGatewayAndHowPodsUseIt() {
    assertThat(notes(Map.of())).doesNotContain("Shared gateway");
    String notes = notes(GatewayTest.gatewaySets());
    assertThat(notes).contains("Shared gateway: http://ratekeeper-gateway." + Chart.NAMESPACE + ".svc:8787 enforcing"
        + " agents/agents").contains("ratekeeper.dev/inject: \"gateway\"").contains("X-Ratekeeper-Api-Key");
  }
}
