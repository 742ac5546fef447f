package dev.ratekeeper.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The operator's Deployment: hardening, probes, replicas and leader election, PDB. */
class OperatorDeploymentTest {

  @Test
  void runsHardened() {
    Deployment deployment = Chart.render("default").operator();
    PodSpec pod = deployment.getSpec().getTemplate().getSpec();
    assertThat(pod.getSecurityContext().getRunAsNonRoot()).isTrue();
    assertThat(pod.getSecurityContext().getRunAsUser()).isEqualTo(65532L);
    assertThat(pod.getSecurityContext().getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
    Container c = pod.getContainers().get(0);
    assertThat(c.getSecurityContext().getRunAsNonRoot()).isTrue();
    assertThat(c.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
    assertThat(c.getSecurityContext().getAllowPrivilegeEscalation()).isFalse();
    assertThat(c.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
    assertThat(c.getSecurityContext().getCapabilities().getAdd()).isNullOrEmpty();
    assertThat(c.getSecurityContext().getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
    // a read-only root needs a writable /tmp for the JVM
    assertThat(c.getVolumeMounts()).anyMatch(m -> m.getMountPath().equals("/tmp"));
    Volume tmp = pod.getVolumes().stream().filter(v -> v.getName().equals("tmp")).findFirst().orElseThrow();
    assertThat(tmp.getEmptyDir()).isNotNull();
    assertThat(c.getResources().getRequests()).containsKeys("cpu", "memory");
    assertThat(c.getResources().getLimits()).containsEntry("memory", new Quantity("512Mi"));
  }

  @Test
  void probesTheAdminPort() {
    Container c = Chart.render("default").operatorContainer();
    int admin = c.getPorts().stream().filter(p -> p.getName().equals("admin")).findFirst().orElseThrow()
        .getContainerPort();
    assertThat(admin).isEqualTo(9788);
    assertThat(path(c.getLivenessProbe())).isEqualTo("/healthz");
    assertThat(path(c.getStartupProbe())).isEqualTo("/healthz");
    assertThat(path(c.getReadinessProbe())).isEqualTo("/readyz");
    for (Probe p : new Probe[] {c.getLivenessProbe(), c.getReadinessProbe(), c.getStartupProbe()}) {
      assertThat(p.getHttpGet().getPort().getStrVal()).isEqualTo("admin");
    }
  }

  @Test
  void moreThanOneReplicaElectsALeaderAndHasADisruptionBudget() {
    Rendered two = Chart.render("default");
    assertThat(two.operator().getSpec().getReplicas()).isEqualTo(2);
    assertThat(two.envValue("RATEKEEPER_LEADER_ELECTION")).isEqualTo("true");
    assertThat(two.envValue("RATEKEEPER_LEASE_NAME")).isEqualTo("ratekeeper-operator");
    assertThat(two.envValue("RATEKEEPER_LEASE_NAMESPACE")).isEqualTo(Chart.NAMESPACE);
    PodDisruptionBudget pdb = two.one(PodDisruptionBudget.class, "ratekeeper-operator");
    assertThat(pdb.getSpec().getMinAvailable().getIntVal()).isEqualTo(1);
    assertThat(pdb.getSpec().getSelector().getMatchLabels())
        .isEqualTo(two.operator().getSpec().getSelector().getMatchLabels());
    // a new replica is ready before an old one stops: the webhook keeps a server during rollouts
    assertThat(two.operator().getSpec().getStrategy().getRollingUpdate().getMaxUnavailable().getIntVal())
        .isZero();
  }

  @Test
  void oneReplicaRunsWithoutLeaderElectionOrDisruptionBudget() {
    Rendered one = Chart.render(Map.of("operator.replicas", 1));
    assertThat(one.operator().getSpec().getReplicas()).isEqualTo(1);
    assertThat(one.envValue("RATEKEEPER_LEADER_ELECTION")).isEqualTo("false");
    assertThat(one.operatorEnv()).doesNotContainKeys("RATEKEEPER_LEASE_NAME", "RATEKEEPER_LEASE_NAMESPACE");
    assertThat(one.all(PodDisruptionBudget.class)).isEmpty();

    Rendered forced = Chart.render(Map.of("operator.replicas", 1, "operator.leaderElection", true));
    assertThat(forced.envValue("RATEKEEPER_LEADER_ELECTION")).isEqualTo("true");
  }

  @Test
  void podIdentityComesFromTheDownwardApi() {
    var env = Chart.render("default").operatorEnv();
    assertThat(env.get("POD_NAME").getValueFrom().getFieldRef().getFieldPath()).isEqualTo("metadata.name");
    assertThat(env.get("POD_NAMESPACE").getValueFrom().getFieldRef().getFieldPath())
        .isEqualTo("metadata.namespace");
  }

  @Test
  void imageTagDefaultsToTheAppVersion() {
    String appVersion = Repo.one(Repo.CHART.resolve("Chart.yaml"), "(?m)^appVersion:\\s*\"?([^\"\\s]+)\"?");
    assertThat(Chart.render("default").operatorContainer().getImage())
        .isEqualTo("ghcr.io/ratekeeper/ratekeeper-operator:" + appVersion);
    assertThat(Chart.render(Map.of("operator.image.tag", "0.2.0-rc1")).operatorContainer().getImage())
        .endsWith(":0.2.0-rc1");
  }

  private static String path(Probe probe) {
    return probe.getHttpGet().getPath();
  }
}
