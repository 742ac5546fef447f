package dev.ratekeeper.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * The `helm test` pod probes the operator's /readyz through its Service and the webhook's TLS.
 * helm-java's template leaves hooks out, so a copy of the chart renders the hook as a plain object.
 */
class HelmTestHookTest {
  static final String HOOK = "templates/tests/test-operator.yaml";

  @Test
  void probesReadinessThroughTheServiceAndTheWebhookCertificate() {
    String hook = Repo.read(Repo.CHART.resolve(HOOK));
    assertThat(hook).contains("helm.sh/hook: test");
    Path copy = Chart.copyChart(UnaryOperator.identity(),
        Map.of(HOOK, hook.replaceAll("(?m)^\\s*helm\\.sh/hook.*$\\n", "")));
    try {
      Rendered r = new Rendered(Chart.renderText(copy, null, Map.of()));
      Pod pod = r.one(Pod.class, "ratekeeper-test");
      Service admin = r.one(Service.class, "ratekeeper-operator");
      int port = admin.getSpec().getPorts().get(0).getPort();
      Container readyz = pod.getSpec().getContainers().get(0);
      assertThat(readyz.getArgs()).contains("--fail").last().isEqualTo(
          "http://ratekeeper-operator." + Chart.NAMESPACE + ".svc:" + port + "/readyz");
      Container tls = pod.getSpec().getContainers().get(1);
      assertThat(tls.getArgs()).containsSequence("--cacert", "/var/run/ratekeeper/ca.crt").last().isEqualTo(
          "https://ratekeeper-webhook." + Chart.NAMESPACE + ".svc:443/healthz");
      // only the CA certificate of the webhook's Secret is mounted, never its keys
      var secret = pod.getSpec().getVolumes().get(0).getSecret();
      assertThat(secret.getSecretName()).isEqualTo(r.envValue("RATEKEEPER_WEBHOOK_SECRET"));
      assertThat(secret.getItems()).singleElement().satisfies(i -> assertThat(i.getKey()).isEqualTo("ca.crt"));
      assertThat(pod.getSpec().getSecurityContext().getRunAsNonRoot()).isTrue();
      assertThat(pod.getSpec().getRestartPolicy()).isEqualTo("Never");
    } finally {
      Chart.deleteTree(copy.getParent());
    }
  }
}
