package dev.ratekeeper.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.APIService;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** query.enabled: the APIService behind kubectl ratekeeper, its Service, port and RBAC; nothing when off. */
class QueryApiTest {
  @Test
  void offByDefault() {
    Rendered r = Chart.render("default");
    assertThat(r.names()).noneMatch(n -> n.startsWith("APIService/"));
    assertThat(r.envValue("RATEKEEPER_QUERY_LISTEN")).isNull();
    assertThat(r.operatorContainer().getPorts()).noneMatch(p -> p.getName().equals("query"));
  }

  @Test
  void theApiServiceReachesTheOperatorsQueryPort() {
    Rendered r = Chart.render("query-api");
    APIService apiService = r.one(APIService.class, "v1alpha1.query.ratekeeper.dev");
    assertThat(apiService.getSpec().getGroup()).isEqualTo("query.ratekeeper.dev");
    assertThat(apiService.getSpec().getVersion()).isEqualTo("v1alpha1");
    var ref = apiService.getSpec().getService();
    assertThat(ref.getNamespace()).isEqualTo(Chart.NAMESPACE);
    assertThat(ref.getPort()).isEqualTo(443);
    Service service = r.one(Service.class, ref.getName());
    ServicePort port = service.getSpec().getPorts().get(0);
    assertThat(port.getPort()).isEqualTo(443);
    int target = r.operatorContainer().getPorts().stream()
        .filter(p -> p.getName().equals(port.getTargetPort().getStrVal())).findFirst().orElseThrow()
        .getContainerPort();
    assertThat(target).isEqualTo(9444);
    assertThat(r.envValue("RATEKEEPER_QUERY_LISTEN")).isEqualTo("0.0.0.0:9444");
    assertThat(service.getSpec().getSelector()).isEqualTo(r.operator().getSpec().getSelector().getMatchLabels());
  }

  @Test
  void theOperatorMayAskTheApiServerAndEveryAuthenticatedUserMayReachTheViews() {
    Rendered r = Chart.render("query-api");
    String sa = r.operator().getSpec().getTemplate().getSpec().getServiceAccountName();
    ClusterRoleBinding delegator = r.one(ClusterRoleBinding.class, Chart.RELEASE + "-auth-delegator");
    assertThat(delegator.getRoleRef().getName()).isEqualTo("system:auth-delegator");
    assertThat(delegator.getSubjects()).singleElement().satisfies(s -> assertThat(s.getName()).isEqualTo(sa));
    RoleBinding reader = r.one(RoleBinding.class, Chart.RELEASE + "-auth-reader");
    assertThat(reader.getMetadata().getNamespace()).isEqualTo("kube-system");
    assertThat(reader.getRoleRef().getName()).isEqualTo("extension-apiserver-authentication-reader");
    ClusterRole views = r.one(ClusterRole.class, Chart.RELEASE + "-query-reader");
    assertThat(views.getRules()).singleElement().satisfies(rule -> {
      assertThat(rule.getApiGroups()).containsExactly("query.ratekeeper.dev");
      assertThat(rule.getVerbs()).containsExactly("get");
    });
    assertThat(r.one(ClusterRoleBinding.class, Chart.RELEASE + "-query-reader").getSubjects()).singleElement()
        .satisfies(s -> assertThat(s.getName()).isEqualTo("system:authenticated"));

    Rendered narrow = Chart.render(Cases.valuesFile("query-api"), Map.of("query.allowAuthenticatedUsers", "false"));
    assertThat(narrow.all(ClusterRoleBinding.class))
        .noneMatch(b -> b.getMetadata().getName().endsWith("-query-reader"));
    assertThat(narrow.all(ClusterRole.class)).anyMatch(c -> c.getMetadata().getName().endsWith("-query-reader"));
  }
}
