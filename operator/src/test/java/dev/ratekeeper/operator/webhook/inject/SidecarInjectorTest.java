package dev.ratekeeper.operator.webhook.inject;

import dev.ratekeeper.cli.SidecarEnvironment;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.operator.webhook.PodPatch;
import dev.ratekeeper.operator.webhook.inject.InjectionContext.EnvSource;
import dev.ratekeeper.operator.webhook.inject.InjectionContext.PolicyView;
import dev.ratekeeper.operator.webhook.inject.InjectionContext.UpstreamView;
import dev.ratekeeper.operator.webhook.inject.InjectionOutcome.Injected;
import dev.ratekeeper.operator.webhook.inject.InjectionOutcome.Refused;
import dev.ratekeeper.operator.webhook.inject.InjectionOutcome.SkipReason;
import dev.ratekeeper.operator.webhook.inject.InjectionOutcome.Skipped;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** Properties of the injector that must hold for every golden case, and the rules the cases do not show. */
class SidecarInjectorTest {
  private static final InjectionSettings SETTINGS = GoldenCase.BASE_SETTINGS;
  private static final InjectionContext ONE_POLICY = InjectionContext.of("agents",
      List.of(new PolicyView("default", List.of())));

  @TestFactory
  Stream<DynamicTest> injectingTwiceChangesNothing() {
    return GoldenCase.all().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
      SidecarInjector injector = new SidecarInjector(c.settings());
      InjectionOutcome first = injector.inject(c.pod(), c.context());
      if (!(first instanceof Injected injected)) {
        return;
      }
      InjectionOutcome second = injector.inject(injected.pod(), c.context());
      assertThat(second).isInstanceOf(Skipped.class);
      assertThat(((Skipped) second).reason()).isEqualTo(SkipReason.AlreadyInjected);
      assertThat(PodPatch.between(injected.pod(), injected.pod(), GoldenCase.SERIALIZATION)).isEmpty();
    }));
  }

  @TestFactory
  Stream<DynamicTest> userEnvIsNeverOverridden() {
    return GoldenCase.all().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
      InjectionOutcome outcome = new SidecarInjector(c.settings()).inject(c.pod(), c.context());
      if (!(outcome instanceof Injected injected)) {
        return;
      }
      for (Container before : containers(c.pod())) {
        Container after = containers(injected.pod()).stream().filter(x -> x.getName().equals(before.getName()))
            .findFirst().orElseThrow();
        List<EnvVar> beforeEnv = before.getEnv() == null ? List.of() : before.getEnv();
        List<EnvVar> afterEnv = after.getEnv() == null ? List.of() : after.getEnv();
        assertThat(afterEnv).hasSizeGreaterThanOrEqualTo(beforeEnv.size());
        assertThat(afterEnv.subList(0, beforeEnv.size())).as("container %s keeps its env, in order, first",
            before.getName()).isEqualTo(beforeEnv);
        assertThat(after.getEnvFrom()).isEqualTo(before.getEnvFrom());
        assertThat(afterEnv.stream().map(EnvVar::getName)).doesNotHaveDuplicates();
        List<EnvVar> added = afterEnv.subList(beforeEnv.size(), afterEnv.size());
        assertThat(added).allMatch(e -> e.getName().endsWith("_BASE_URL") && e.getValue().startsWith("http://127.0.0.1:8787/"));
      }
    }));
  }

  @TestFactory
  Stream<DynamicTest> theInputPodIsNeverModified() {
    return GoldenCase.all().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
      String before = GoldenCase.SERIALIZATION.asJson(c.pod());
      new SidecarInjector(c.settings()).inject(c.pod(), c.context());
      assertThat(GoldenCase.SERIALIZATION.asJson(c.pod())).isEqualTo(before);
    }));
  }

  @Test
  void providerKeysGoIntoTheSidecarOnly() {
    GoldenCase c = GoldenCase.named("upstream-credentials");
    Injected injected = (Injected) new SidecarInjector(c.settings()).inject(c.pod(), c.context());
    Container sidecar = sidecar(injected.pod());
    assertThat(sidecar.getEnv()).filteredOn(e -> e.getName().startsWith("RATEKEEPER_UPSTREAM_KEY_"))
        .extracting(EnvVar::getName).containsExactly("RATEKEEPER_UPSTREAM_KEY_CLAUDE", "RATEKEEPER_UPSTREAM_KEY_OPENAI");
    for (Container app : injected.pod().getSpec().getContainers()) {
      assertThat(app.getEnv()).noneMatch(e -> e.getValueFrom() != null);
      assertThat(app.getEnv()).noneMatch(e -> e.getName().startsWith("RATEKEEPER_"));
    }
    assertThat(GoldenCase.SERIALIZATION.asJson(injected.pod().getSpec().getContainers()))
        .doesNotContain("anthropic-key").doesNotContain("openai-key");
  }

  @Test
  void upstreamKeyVariablesUseTheSidecarsSpelling() {
    assertThat(SidecarEnvironment.upstreamKeyVariable("anthropic")).isEqualTo("RATEKEEPER_UPSTREAM_KEY_ANTHROPIC");
    assertThat(SidecarEnvironment.upstreamKeyVariable("azure-openai-eu"))
        .isEqualTo("RATEKEEPER_UPSTREAM_KEY_AZURE_OPENAI_EU");
    // and the sidecar reads the name back as the upstream it is for
    assertThat(SidecarEnvironment.upstreamOfKeyVariable("AZURE_OPENAI_EU")).isEqualTo("azure-openai-eu");
  }

  @Test
  void nativeModePutsARestartingSidecarFirstAmongInitContainers() {
    GoldenCase c = GoldenCase.named("own-init-containers");
    Injected injected = (Injected) new SidecarInjector(SETTINGS).inject(c.pod(), c.context());
    List<Container> inits = injected.pod().getSpec().getInitContainers();
    assertThat(inits).extracting(Container::getName).containsExactly("ratekeeper-sidecar", "migrate", "fetch-prompts");
    assertThat(inits.get(0).getRestartPolicy()).isEqualTo("Always");
    assertThat(inits.get(0).getStartupProbe().getHttpGet().getPath()).isEqualTo("/readyz");
    assertThat(inits.get(0).getStartupProbe().getHttpGet().getPort().getIntVal()).isEqualTo(9787);
    assertThat(inits.get(1)).isEqualTo(c.pod().getSpec().getInitContainers().get(0));
    assertThat(inits.get(2)).as("init containers get no base URLs").isEqualTo(c.pod().getSpec().getInitContainers().get(1));
  }

  @Test
  void containerModeAppendsAPlainContainer() {
    Injected injected = (Injected) new SidecarInjector(SETTINGS.withMode(SidecarMode.Container))
        .inject(pod("agent"), ONE_POLICY);
    assertThat(injected.pod().getSpec().getInitContainers()).isEmpty();
    List<Container> containers = injected.pod().getSpec().getContainers();
    assertThat(containers).extracting(Container::getName).containsExactly("agent", "ratekeeper-sidecar");
    assertThat(containers.get(1).getRestartPolicy()).isNull();
  }

  @Test
  void theSidecarIsLockedDown() {
    Container sidecar = sidecar(((Injected) new SidecarInjector(SETTINGS).inject(pod("agent"), ONE_POLICY)).pod());
    var sc = sidecar.getSecurityContext();
    assertThat(sc.getRunAsNonRoot()).isTrue();
    assertThat(sc.getRunAsUser()).isEqualTo(65532L);
    assertThat(sc.getAllowPrivilegeEscalation()).isFalse();
    assertThat(sc.getReadOnlyRootFilesystem()).isTrue();
    assertThat(sc.getCapabilities().getDrop()).containsExactly("ALL");
    assertThat(sc.getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
    assertThat(sidecar.getArgs()).containsExactly("--policy", "agents/default");
    assertThat(sidecar.getEnv()).anySatisfy(e -> {
      assertThat(e.getName()).isEqualTo("POD_NAME");
      assertThat(e.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("metadata.name");
    });
    // the admin port is on the pod IP (for the kubelet's probes and Prometheus), not on every interface
    assertThat(sidecar.getEnv()).anySatisfy(e -> {
      assertThat(e.getName()).isEqualTo("POD_IP");
      assertThat(e.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("status.podIP");
    });
    assertThat(sidecar.getEnv()).anySatisfy(e -> {
      assertThat(e.getName()).isEqualTo("RATEKEEPER_ADMIN_LISTEN");
      assertThat(e.getValue()).isEqualTo("$(POD_IP):9787");
    });
  }

  @Test
  void settingsShapeTheSidecar() {
    InjectionSettings bare = new InjectionSettings("example.com/rk:9", "Always", SidecarMode.Native,
        MissingPolicyAction.Refuse, "rediss://redis.example.com:6380", null, null, null, "1", "256Mi", null);
    Container sidecar = sidecar(((Injected) new SidecarInjector(bare).inject(pod("agent"), ONE_POLICY)).pod());
    assertThat(sidecar.getImage()).isEqualTo("example.com/rk:9");
    assertThat(sidecar.getImagePullPolicy()).isEqualTo("Always");
    assertThat(sidecar.getEnv()).extracting(EnvVar::getName).containsExactly("RATEKEEPER_REDIS_URL", "POD_NAME", "POD_IP",
        "RATEKEEPER_ADMIN_LISTEN");
    assertThat(sidecar.getEnv().get(0).getValue()).isEqualTo("rediss://redis.example.com:6380");
    assertThat(sidecar.getResources().getRequests()).isEmpty();
    assertThat(sidecar.getResources().getLimits()).containsOnlyKeys("cpu", "memory");
  }

  @Test
  void aSidecarContainerWithoutTheAnnotationCountsAsInjected() {
    Pod pod = new PodBuilder(pod("agent")).editSpec().addNewContainer().withName("ratekeeper-sidecar")
        .withImage("x").endContainer().endSpec().build();
    assertThat(SidecarInjector.precheck(pod)).contains(SkipReason.AlreadyInjected);
    Pod native_ = new PodBuilder(pod("agent")).editSpec().addNewInitContainer().withName("ratekeeper-sidecar")
        .withImage("x").endInitContainer().endSpec().build();
    InjectionOutcome outcome = new SidecarInjector(SETTINGS).inject(native_, ONE_POLICY);
    assertThat(outcome).isInstanceOf(Skipped.class);
    assertThat(((Skipped) outcome).reason()).isEqualTo(SkipReason.AlreadyInjected);
  }

  @Test
  void onlyTheExactLabelValueTrueOptsIn() {
    for (String value : new String[] {"True", "yes", "1", ""}) {
      Pod pod = new PodBuilder(pod("agent")).editMetadata().addToLabels(SidecarInjector.INJECT_LABEL, value)
          .endMetadata().build();
      assertThat(SidecarInjector.precheck(pod)).as(value).contains(SkipReason.NotOptedIn);
    }
    assertThat(SidecarInjector.precheck(new Pod())).contains(SkipReason.NotOptedIn);
    assertThat(SidecarInjector.precheck(pod("agent"))).isEmpty();
  }

  @Test
  void aBlankPolicyAnnotationMeansTheNamespacesOnlyPolicy() {
    Pod pod = new PodBuilder(pod("agent")).editMetadata().addToAnnotations(SidecarInjector.POLICY_ANNOTATION, " ")
        .endMetadata().build();
    assertThat(new SidecarInjector(SETTINGS).inject(pod, ONE_POLICY)).isInstanceOf(Injected.class);
  }

  @Test
  void refusalsNameTheProblemAndTheWayOut() {
    InjectionOutcome none = new SidecarInjector(SETTINGS).inject(pod("agent"), InjectionContext.of("agents", List.of()));
    assertThat(((Refused) none).message()).contains("namespace \"agents\" has no RateLimitPolicy")
        .contains("remove the label ratekeeper.dev/inject");
    InjectionContext two = InjectionContext.of("agents",
        List.of(new PolicyView("b", List.of()), new PolicyView("a", List.of())));
    assertThat(((Refused) new SidecarInjector(SETTINGS).inject(pod("agent"), two)).message())
        .contains("has 2 RateLimitPolicies (a, b)").contains("annotation ratekeeper.dev/policy");
  }

  @Test
  void aBaseUrlAlreadyPointingAtTheSidecarIsNeitherDuplicatedNorWarnedAbout() {
    Pod pod = new PodBuilder(pod("agent")).editSpec().editFirstContainer()
        .addNewEnv().withName("ANTHROPIC_BASE_URL").withValue("http://127.0.0.1:8787/anthropic").endEnv()
        .endContainer().endSpec().build();
    Injected injected = (Injected) new SidecarInjector(SETTINGS).inject(pod, ONE_POLICY);
    assertThat(injected.warnings()).isEmpty();
    assertThat(injected.pod().getSpec().getContainers().get(0).getEnv()).extracting(EnvVar::getName)
        .containsExactly("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL");
  }

  @Test
  void envFromWithAnotherPrefixCannotDefineTheVariable() {
    Pod pod = new PodBuilder(pod("agent")).editSpec().editFirstContainer()
        .addNewEnvFrom().withPrefix("APP_").withNewConfigMapRef().withName("unreadable").endConfigMapRef().endEnvFrom()
        .endContainer().endSpec().build();
    Injected injected = (Injected) new SidecarInjector(SETTINGS).inject(pod, ONE_POLICY);
    assertThat(injected.warnings()).isEmpty();
    assertThat(injected.pod().getSpec().getContainers().get(0).getEnv()).hasSize(2);
  }

  @Test
  void aRequiredEnvFromSourceThatDoesNotExistYetMayStillDefineTheVariable() {
    Pod pod = new PodBuilder(pod("agent")).editSpec().editFirstContainer()
        .addNewEnvFrom().withNewSecretRef().withName("later").endSecretRef().endEnvFrom()
        .endContainer().endSpec().build();
    InjectionContext ctx = new InjectionContext("agents", ONE_POLICY.policies(), Map.of(),
        Set.of(new EnvSource(EnvSource.Kind.Secret, "later")));
    Injected injected = (Injected) new SidecarInjector(SETTINGS).inject(pod, ctx);
    assertThat(injected.pod().getSpec().getContainers().get(0).getEnv()).isNullOrEmpty();
    assertThat(injected.warnings()).hasSize(2).allMatch(w -> w.contains("envFrom Secret later could not be read"));
  }

  @Test
  void baseUrlsFollowThePolicysRoutes() {
    PolicyView policy = new PolicyView("p", List.of(new UpstreamView("claude", "anthropic", null, null),
        new UpstreamView("groq", "openai", null, null), new UpstreamView("openai", "openai", null, null)));
    assertThat(BaseUrlEnv.values(policy)).containsExactly(
        Map.entry("ANTHROPIC_BASE_URL", "http://127.0.0.1:8787/claude"),
        Map.entry("OPENAI_BASE_URL", "http://127.0.0.1:8787/groq/v1"));
    assertThat(BaseUrlEnv.values(new PolicyView("p", List.of()))).containsExactly(
        Map.entry("ANTHROPIC_BASE_URL", "http://127.0.0.1:8787/anthropic"),
        Map.entry("OPENAI_BASE_URL", "http://127.0.0.1:8787/openai/v1"));
  }

  @Test
  void anAzureUpstreamGivesTheAzureOpenAiClientsTheirEndpoint() {
    PolicyView policy = new PolicyView("p", List.of(new UpstreamView("openai", "openai", null, null),
        new UpstreamView("azure-eu", "azure-openai", "azure-key", "api-key"),
        new UpstreamView("azure-us", "azure-openai", null, null)));
    assertThat(BaseUrlEnv.values(policy)).containsExactly(
        Map.entry("ANTHROPIC_BASE_URL", "http://127.0.0.1:8787/anthropic"),
        Map.entry("OPENAI_BASE_URL", "http://127.0.0.1:8787/openai/v1"),
        Map.entry("AZURE_OPENAI_ENDPOINT", "http://127.0.0.1:8787/azure-eu"));
  }

  @Test
  void theStatusAnnotationSaysWhatWasInjected() {
    Injected injected = (Injected) new SidecarInjector(SETTINGS).inject(pod("agent"), ONE_POLICY);
    assertThat(injected.pod().getMetadata().getAnnotations().get(SidecarInjector.STATUS_ANNOTATION)).isEqualTo(
        "{\"version\":\"1\",\"policy\":\"agents/default\",\"sidecar\":\"ratekeeper-sidecar\",\"mode\":\"Native\","
            + "\"image\":\"ghcr.io/ratekeeper/ratekeeper-sidecar:test\","
            + "\"env\":{\"agent\":[\"ANTHROPIC_BASE_URL\",\"OPENAI_BASE_URL\"]}}");
  }

  private static Pod pod(String container) {
    return new PodBuilder().withNewMetadata().withName("p").withNamespace("agents")
        .addToLabels(SidecarInjector.INJECT_LABEL, "true").endMetadata()
        .withNewSpec().addNewContainer().withName(container).withImage("example.com/agent:1").endContainer().endSpec()
        .build();
  }

  private static Container sidecar(Pod pod) {
    return containers(pod).stream().filter(c -> c.getName().equals("ratekeeper-sidecar")).findFirst().orElseThrow();
  }

  private static List<Container> containers(Pod pod) {
    return Stream.of(pod.getSpec().getInitContainers(), pod.getSpec().getContainers()).filter(Objects::nonNull)
        .flatMap(List::stream).toList();
  }
}
