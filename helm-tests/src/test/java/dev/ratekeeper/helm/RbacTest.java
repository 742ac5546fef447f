package dev.ratekeeper.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.api.model.rbac.RoleRef;
import io.fabric8.kubernetes.api.model.rbac.Subject;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * Least privilege: the rules are exactly what the operator's code calls (see the comment in
 * templates/rbac.yaml), cluster-wide only when every namespace is watched.
 */
class RbacTest {
  /** What the reconciler and the webhook need wherever policies are watched. */
  static final Set<String> WATCH_RULES = Set.of(
      "ratekeeper.dev/ratelimitpolicies get", "ratekeeper.dev/ratelimitpolicies list",
      "ratekeeper.dev/ratelimitpolicies watch", "ratekeeper.dev/ratelimitpolicies patch",
      "ratekeeper.dev/ratelimitpolicies update",
      "ratekeeper.dev/ratelimitpolicies/status get", "ratekeeper.dev/ratelimitpolicies/status patch",
      "ratekeeper.dev/ratelimitpolicies/status update",
      "ratekeeper.dev/ratelimitpolicies/finalizers update",
      "/secrets get", "/secrets list", "/secrets watch",
      "/events create",
      "/configmaps get");
  static final Set<String> WEBHOOK_CONFIG_RULES = Set.of(
      "admissionregistration.k8s.io/mutatingwebhookconfigurations get [ratekeeper-sidecar-injector]",
      "admissionregistration.k8s.io/mutatingwebhookconfigurations patch [ratekeeper-sidecar-injector]");
  static final Set<String> TLS_SECRET_RULES = Set.of(
      "/secrets create", "/secrets get [ratekeeper-webhook-tls]", "/secrets update [ratekeeper-webhook-tls]");
  static final Set<String> LEASE_RULES = Set.of(
      "coordination.k8s.io/leases create", "coordination.k8s.io/leases get [ratekeeper-operator]",
      "coordination.k8s.io/leases update [ratekeeper-operator]",
      // Fabric8's LeaseLock renews and takes over with a patch
      "coordination.k8s.io/leases patch [ratekeeper-operator]");

  @Test
  void watchingEveryNamespaceTakesAClusterRoleWithOnlyWhatTheOperatorCalls() {
    Rendered r = Chart.render("default");
    assertThat(rules(r.one(ClusterRole.class, "ratekeeper-operator").getRules())).isEqualTo(WATCH_RULES);
    assertThat(rules(r.one(ClusterRole.class, "ratekeeper-webhook").getRules())).isEqualTo(WEBHOOK_CONFIG_RULES);
    Role self = r.one(Role.class, "ratekeeper-operator-self");
    assertThat(self.getMetadata().getNamespace()).isEqualTo(Chart.NAMESPACE);
    assertThat(rules(self.getRules())).isEqualTo(union(TLS_SECRET_RULES, LEASE_RULES));
    assertBoundToServiceAccount(r);
  }

  @Test
  void aNamespaceListTakesARolePerNamespaceAndNoClusterWideAccess() {
    Rendered r = Chart.render("restricted-namespaces");
    assertThat(r.all(ClusterRole.class)).extracting(o -> o.getMetadata().getName())
        .containsExactly("ratekeeper-webhook");
    List<Role> watch = r.all(Role.class).stream()
        .filter(o -> o.getMetadata().getName().equals("ratekeeper-operator")).toList();
    assertThat(watch).extracting(o -> o.getMetadata().getNamespace()).containsExactly("team-a", "team-b");
    watch.forEach(role -> assertThat(rules(role.getRules())).isEqualTo(WATCH_RULES));
    assertThat(r.all(RoleBinding.class)).extracting(o -> o.getMetadata().getNamespace())
        .contains("team-a", "team-b");
    // one replica: no leader election, so no Lease access
    assertThat(rules(r.one(Role.class, "ratekeeper-operator-self").getRules())).isEqualTo(TLS_SECRET_RULES);
    assertThat(r.envValue("RATEKEEPER_NAMESPACES")).isEqualTo("team-a,team-b");
    assertBoundToServiceAccount(r);
  }

  @Test
  void withCertManagerTheOperatorOnlyReadsTheTlsSecret() {
    Rendered r = Chart.render("cert-manager");
    assertThat(rules(r.one(Role.class, "ratekeeper-operator-self").getRules()))
        .isEqualTo(union(Set.of("/secrets get [ratekeeper-webhook-tls]"), LEASE_RULES));
  }

  @Test
  void withoutTheWebhookThereIsNoWebhookAccess() {
    Rendered r = Chart.render(Map.of("webhook.enabled", false, "operator.replicas", 1));
    assertThat(r.all(ClusterRole.class)).extracting(o -> o.getMetadata().getName())
        .containsExactly("ratekeeper-operator");
    assertThat(rules(r.one(ClusterRole.class, "ratekeeper-operator").getRules()))
        .doesNotContain("/configmaps get").contains("/secrets watch");
    assertThat(r.all(Role.class)).isEmpty();
    assertThat(r.envValue("RATEKEEPER_WEBHOOK_ENABLED")).isEqualTo("false");
  }

  @Test
  void noRuleUsesWildcards() {
    for (String caseName : Cases.all()) {
      Rendered r = Chart.render(caseName);
      List<PolicyRule> all = new java.util.ArrayList<>();
      r.all(ClusterRole.class).forEach(o -> all.addAll(o.getRules()));
      r.all(Role.class).forEach(o -> all.addAll(o.getRules()));
      for (PolicyRule rule : all) {
        assertThat(rule.getVerbs()).as(caseName).doesNotContain("*");
        assertThat(rule.getResources()).as(caseName).doesNotContain("*");
        assertThat(rule.getApiGroups()).as(caseName).doesNotContain("*");
        assertThat(rule.getNonResourceURLs()).as(caseName).isNullOrEmpty();
      }
    }
  }

  /** "group/resource verb [name]" per verb (and per name). */
  static Set<String> rules(List<PolicyRule> rules) {
    Set<String> out = new TreeSet<>();
    for (PolicyRule rule : rules) {
      for (String group : rule.getApiGroups()) {
        for (String resource : rule.getResources()) {
          for (String verb : rule.getVerbs()) {
            List<String> names = rule.getResourceNames() == null ? List.of() : rule.getResourceNames();
            if (names.isEmpty()) {
              out.add(group + "/" + resource + " " + verb);
            } else {
              names.forEach(n -> out.add(group + "/" + resource + " " + verb + " [" + n + "]"));
            }
          }
        }
      }
    }
    return out;
  }

  private static Set<String> union(Set<String> a, Set<String> b) {
    Set<String> out = new TreeSet<>(a);
    out.addAll(b);
    return out;
  }

  private static void assertBoundToServiceAccount(Rendered r) {
    String sa = r.operator().getSpec().getTemplate().getSpec().getServiceAccountName();
    List<HasMetadata> bindings = new java.util.ArrayList<>();
    bindings.addAll(r.all(ClusterRoleBinding.class));
    bindings.addAll(r.all(RoleBinding.class));
    assertThat(bindings).isNotEmpty();
    for (HasMetadata b : bindings) {
      List<Subject> subjects = b instanceof ClusterRoleBinding c ? c.getSubjects() : ((RoleBinding) b).getSubjects();
      RoleRef ref = b instanceof ClusterRoleBinding c ? c.getRoleRef() : ((RoleBinding) b).getRoleRef();
      assertThat(subjects).singleElement().satisfies(s -> {
        assertThat(s.getKind()).isEqualTo("ServiceAccount");
        assertThat(s.getName()).isEqualTo(sa);
        assertThat(s.getNamespace()).isEqualTo(Chart.NAMESPACE);
      });
      boolean roleExists = ref.getKind().equals("ClusterRole") ? r.has("ClusterRole", ref.getName())
          : r.all(Role.class).stream().anyMatch(role -> role.getMetadata().getName().equals(ref.getName())
              && role.getMetadata().getNamespace().equals(b.getMetadata().getNamespace()));
      assertThat(roleExists).as("%s %s refers to an existing %s %s", b.getKind(), b.getMetadata().getName(),
          ref.getKind(), ref.getName()).isTrue();
    }
  }
}
