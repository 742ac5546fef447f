package dev.ratekeeper.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.LabelSelectorRequirement;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhook;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfiguration;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.RuleWithOperations;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The MutatingWebhookConfiguration, its Service, and how its certificate is managed. */
class WebhookTest {

  @Test
  void sendsOnlyOptedInPodCreationsToTheOperator() {
    Rendered r = Chart.render("default");
    MutatingWebhookConfiguration config = r.one(MutatingWebhookConfiguration.class, "ratekeeper-sidecar-injector");
    MutatingWebhook webhook = config.getWebhooks().get(0);
    assertThat(config.getWebhooks()).hasSize(1);
    assertThat(webhook.getObjectSelector().getMatchLabels()).isNullOrEmpty();
    assertThat(webhook.getObjectSelector().getMatchExpressions()).singleElement().satisfies(e -> {
      assertThat(e.getKey()).isEqualTo("ratekeeper.dev/inject");
      assertThat(e.getOperator()).isEqualTo("In");
      // the injector's own values: a sidecar, or the shared gateway
      assertThat(e.getValues()).containsExactly("true",
          Repo.constant(Repo.OPERATOR_SRC.resolve("webhook/inject/SidecarInjector.java"), "GATEWAY"));
    });
    assertThat(webhook.getSideEffects()).isEqualTo("None");
    assertThat(webhook.getAdmissionReviewVersions()).containsExactly("v1");
    assertThat(webhook.getFailurePolicy()).isEqualTo("Fail");
    assertThat(webhook.getTimeoutSeconds()).isEqualTo(10);
    RuleWithOperations rule = webhook.getRules().get(0);
    assertThat(webhook.getRules()).hasSize(1);
    assertThat(rule.getOperations()).containsExactly("CREATE");
    assertThat(rule.getApiGroups()).containsExactly("");
    assertThat(rule.getApiVersions()).containsExactly("v1");
    assertThat(rule.getResources()).containsExactly("pods");
    // the caBundle is the operator's (or cert-manager's) to write; Helm must not own it
    assertThat(webhook.getClientConfig().getCaBundle()).isNull();
    assertThat(webhook.getClientConfig().getService().getPath()).isEqualTo("/mutate");
    assertThat(config.getMetadata().getAnnotations()).isNullOrEmpty();
  }

  @Test
  void theServiceMaps443ToTheOperatorsWebhookPort() {
    Rendered r = Chart.render("default");
    MutatingWebhook webhook = r.one(MutatingWebhookConfiguration.class, "ratekeeper-sidecar-injector")
        .getWebhooks().get(0);
    var ref = webhook.getClientConfig().getService();
    Service service = r.one(Service.class, ref.getName());
    assertThat(ref.getNamespace()).isEqualTo(Chart.NAMESPACE);
    ServicePort port = service.getSpec().getPorts().stream().filter(p -> p.getPort().equals(ref.getPort()))
        .findFirst().orElseThrow();
    assertThat(port.getPort()).isEqualTo(443);
    int target = r.operatorContainer().getPorts().stream()
        .filter(p -> p.getName().equals(port.getTargetPort().getStrVal())).findFirst().orElseThrow()
        .getContainerPort();
    assertThat(target).isEqualTo(9443);
    assertThat(r.envValue("RATEKEEPER_WEBHOOK_LISTEN")).isEqualTo("0.0.0.0:" + target);
    assertThat(service.getSpec().getSelector()).isEqualTo(r.operator().getSpec().getSelector().getMatchLabels());
    // the operator is told the names of what the chart created
    assertThat(r.envValue("RATEKEEPER_WEBHOOK_SERVICE")).isEqualTo(service.getMetadata().getName());
    assertThat(r.envValue("RATEKEEPER_WEBHOOK_NAMESPACE")).isEqualTo(Chart.NAMESPACE);
    assertThat(r.envValue("RATEKEEPER_WEBHOOK_CONFIG_NAME")).isEqualTo("ratekeeper-sidecar-injector");
    assertThat(r.envValue("RATEKEEPER_WEBHOOK_SECRET")).isEqualTo("ratekeeper-webhook-tls");
  }

  @Test
  void failurePolicyIgnoreIsHonoured() {
    MutatingWebhook webhook = Chart.render("webhook-ignore")
        .one(MutatingWebhookConfiguration.class, "ratekeeper-sidecar-injector").getWebhooks().get(0);
    assertThat(webhook.getFailurePolicy()).isEqualTo("Ignore");
    assertThat(webhook.getNamespaceSelector().getMatchLabels())
        .containsExactly(Map.entry("ratekeeper.dev/agents", "enabled"));
  }

  @Test
  void neverInjectsIntoSystemNamespacesOrItsOwn() {
    List<LabelSelectorRequirement> exprs = Chart.render("default")
        .one(MutatingWebhookConfiguration.class, "ratekeeper-sidecar-injector").getWebhooks().get(0)
        .getNamespaceSelector().getMatchExpressions();
    assertThat(exprs).singleElement().satisfies(e -> {
      assertThat(e.getKey()).isEqualTo("kubernetes.io/metadata.name");
      assertThat(e.getOperator()).isEqualTo("NotIn");
      assertThat(e.getValues()).containsExactlyInAnyOrder(Chart.NAMESPACE, "kube-system", "kube-node-lease",
          "kube-public");
    });
  }

  @Test
  void aNamespaceListLimitsInjectionToThoseNamespaces() {
    List<LabelSelectorRequirement> exprs = Chart.render("restricted-namespaces")
        .one(MutatingWebhookConfiguration.class, "ratekeeper-sidecar-injector").getWebhooks().get(0)
        .getNamespaceSelector().getMatchExpressions();
    assertThat(exprs).anySatisfy(e -> {
      assertThat(e.getOperator()).isEqualTo("In");
      assertThat(e.getValues()).containsExactly("team-a", "team-b");
    });
  }

  @Test
  void certManagerIssuesTheCertificateTheOperatorServes() {
    Rendered r = Chart.render("cert-manager");
    MutatingWebhookConfiguration config = r.one(MutatingWebhookConfiguration.class, "ratekeeper-sidecar-injector");
    String injectFrom = config.getMetadata().getAnnotations().get("cert-manager.io/inject-ca-from");
    assertThat(injectFrom).isEqualTo(Chart.NAMESPACE + "/ratekeeper-webhook");

    GenericKubernetesResource serving = r.generic("Certificate").stream()
        .filter(c -> c.getMetadata().getName().equals("ratekeeper-webhook")).findFirst().orElseThrow();
    assertThat(serving.getMetadata().getNamespace()).isEqualTo(Chart.NAMESPACE);
    Map<String, Object> spec = spec(serving);
    assertThat(spec.get("secretName")).isEqualTo(r.envValue("RATEKEEPER_WEBHOOK_SECRET"));
    String service = r.envValue("RATEKEEPER_WEBHOOK_SERVICE");
    // the names WebhookConfig.dnsNames() checks the certificate for, then the extra ones
    assertThat(spec.get("dnsNames")).isEqualTo(List.of(service + "." + Chart.NAMESPACE + ".svc",
        service + "." + Chart.NAMESPACE + ".svc.cluster.local", "ratekeeper-webhook.example.internal"));
    assertThat(r.envValue("RATEKEEPER_WEBHOOK_DNS_NAMES")).isEqualTo("ratekeeper-webhook.example.internal");
    // cert-manager renews before the operator would consider the certificate due
    assertThat(hours((String) spec.get("renewBefore")))
        .isGreaterThan(hours(r.envValue("RATEKEEPER_WEBHOOK_RENEW_BEFORE")));
    assertThat(hours((String) spec.get("duration"))).isGreaterThan(hours((String) spec.get("renewBefore")));

    // the chain: self-signed Issuer -> CA Certificate -> CA Issuer -> serving Certificate
    Map<?, ?> issuerRef = (Map<?, ?>) spec.get("issuerRef");
    GenericKubernetesResource caIssuer = r.generic("Issuer").stream()
        .filter(i -> i.getMetadata().getName().equals(issuerRef.get("name"))).findFirst().orElseThrow();
    String caSecret = (String) ((Map<?, ?>) spec(caIssuer).get("ca")).get("secretName");
    GenericKubernetesResource ca = r.generic("Certificate").stream()
        .filter(c -> caSecret.equals(spec(c).get("secretName"))).findFirst().orElseThrow();
    assertThat(spec(ca).get("isCA")).isEqualTo(true);
    String rootName = (String) ((Map<?, ?>) spec(ca).get("issuerRef")).get("name");
    assertThat(r.generic("Issuer")).anySatisfy(i -> {
      assertThat(i.getMetadata().getName()).isEqualTo(rootName);
      assertThat(spec(i)).containsKey("selfSigned");
    });

    // the operator waits for the Secret instead of crash-looping on a 403 while cert-manager issues it
    assertThat(r.operator().getSpec().getTemplate().getSpec().getVolumes())
        .anyMatch(v -> v.getSecret() != null && v.getSecret().getSecretName().equals(spec.get("secretName")));
  }

  @Test
  void withoutCertManagerThereAreNoCertManagerObjects() {
    Rendered r = Chart.render("default");
    assertThat(r.generic("Certificate")).isEmpty();
    assertThat(r.generic("Issuer")).isEmpty();
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> spec(GenericKubernetesResource o) {
    return (Map<String, Object>) o.getAdditionalProperties().get("spec");
  }

  static long hours(String goDuration) {
    return Duration.parse("PT" + goDuration.toUpperCase()).toHours();
  }

  /** webhook.hostNetwork: the operator pods in the node's network, serving the webhook on webhook.port. */
  @Test
  void hostNetworkPutsTheWebhookOnANodePort() {
    Rendered r = Chart.render(Map.of("webhook.hostNetwork", true, "webhook.port", 10443));
    var pod = r.operator().getSpec().getTemplate().getSpec();
    assertThat(pod.getHostNetwork()).isTrue();
    assertThat(pod.getDnsPolicy()).isEqualTo("ClusterFirstWithHostNet");
    assertThat(r.operatorContainer().getPorts()).anySatisfy(p -> {
      assertThat(p.getName()).isEqualTo("webhook");
      assertThat(p.getContainerPort()).isEqualTo(10443);
    });
    assertThat(r.envValue("RATEKEEPER_WEBHOOK_LISTEN")).isEqualTo("0.0.0.0:10443");
    assertThat(r.one(Service.class, "ratekeeper-webhook").getSpec().getPorts().get(0).getPort()).isEqualTo(443);

    assertThat(Chart.render("default").operator().getSpec().getTemplate().getSpec().getHostNetwork()).isNull();
  }
}
