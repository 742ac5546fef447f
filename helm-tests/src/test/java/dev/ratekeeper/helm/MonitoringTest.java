package dev.ratekeeper.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * ServiceMonitor, PodMonitor, PrometheusRule and the Grafana dashboard: they select what they
 * should, and query only metrics the programs export.
 */
class MonitoringTest {
  /**
   * Every series the sidecar, the operator and its webhook export (kept by hand; checked against
   * their source below). A dashboard or alert may use these names and no others.
   */
  static final Set<String> EXPORTED = Set.of(
      // sidecar (SidecarMetrics)
      "ratekeeper_requests_total", "ratekeeper_throttled_total", "ratekeeper_tokens_total",
      "ratekeeper_spend_usd_total",
      "ratekeeper_decision_seconds_bucket", "ratekeeper_decision_seconds_count", "ratekeeper_decision_seconds_sum",
      "ratekeeper_decision_seconds_max",
      "ratekeeper_upstream_seconds_bucket", "ratekeeper_upstream_seconds_count", "ratekeeper_upstream_seconds_sum",
      "ratekeeper_upstream_seconds_max",
      "ratekeeper_queue_wait_seconds_bucket", "ratekeeper_queue_wait_seconds_count",
      "ratekeeper_queue_wait_seconds_sum", "ratekeeper_queue_wait_seconds_max",
      "ratekeeper_inflight", "ratekeeper_store_up", "ratekeeper_policy_revision_info",
      "ratekeeper_store_events_total", "ratekeeper_estimated_charges_total",
      // operator (OperatorMetrics)
      "ratekeeper_operator_reconciles_total", "ratekeeper_operator_reconcile_errors_total",
      "ratekeeper_operator_redis_errors_total", "ratekeeper_operator_revisions_published_total",
      "ratekeeper_operator_reconcile_seconds_bucket", "ratekeeper_operator_reconcile_seconds_count",
      "ratekeeper_operator_reconcile_seconds_sum", "ratekeeper_operator_reconcile_seconds_max",
      // webhook (WebhookMetrics)
      "ratekeeper_webhook_admissions_total", "ratekeeper_webhook_certificate_renewals_total",
      "ratekeeper_webhook_certificate_expiry_timestamp_seconds");

  @Test
  void theListOfExportedMetricsIsWhatTheProgramsRegister() {
    assertThat(ExportedMetrics.declared()).as("meters found in the metrics classes").hasSizeGreaterThanOrEqualTo(15);
    assertThat(ExportedMetrics.seriesNames())
        .as("series the metrics classes' meters export; update EXPORTED (and the dashboard) with them")
        .isEqualTo(new TreeSet<>(EXPORTED));
    // and the names DESIGN.md promises users
    assertThat(EXPORTED).contains("ratekeeper_requests_total", "ratekeeper_tokens_total",
        "ratekeeper_spend_usd_total", "ratekeeper_decision_seconds_bucket", "ratekeeper_upstream_seconds_bucket",
        "ratekeeper_inflight", "ratekeeper_store_up", "ratekeeper_policy_revision_info");
  }

  @Test
  void theDashboardParsesAndQueriesOnlyExportedMetrics() throws Exception {
    Rendered r = Chart.render("monitoring");
    ConfigMap cm = r.one(ConfigMap.class, "ratekeeper-dashboard");
    assertThat(cm.getMetadata().getLabels()).containsEntry("grafana_dashboard", "1");
    JsonNode dashboard = Chart.JSON.readTree(cm.getData().get("ratekeeper.json"));
    assertThat(dashboard.path("uid").asText()).isEqualTo("ratekeeper-overview");

    List<String> queries = new ArrayList<>();
    List<String> titles = new ArrayList<>();
    for (JsonNode panel : dashboard.path("panels")) {
      titles.add(panel.path("title").asText());
      for (JsonNode target : panel.path("targets")) {
        queries.add(target.path("expr").asText());
      }
    }
    for (JsonNode variable : dashboard.path("templating").path("list")) {
      queries.add(variable.path("definition").asText());
    }
    Set<String> used = new TreeSet<>();
    queries.forEach(q -> used.addAll(ExportedMetrics.referencedIn(q)));
    assertThat(used).as("metrics the dashboard queries").isNotEmpty().isSubsetOf(EXPORTED);
    // what the dashboard is for: decisions, throttling by dimension, tokens, spend vs budget,
    // decision latency, store health
    assertThat(used).contains("ratekeeper_requests_total", "ratekeeper_throttled_total", "ratekeeper_tokens_total",
        "ratekeeper_spend_usd_total", "ratekeeper_decision_seconds_bucket", "ratekeeper_store_up",
        "ratekeeper_policy_revision_info");
    assertThat(queries).anyMatch(q -> q.contains("sum by (decision)") && q.contains("ratekeeper_requests_total"));
    assertThat(queries).anyMatch(q -> q.contains("sum by (dimension)") && q.contains("ratekeeper_throttled_total"));
    assertThat(queries).anyMatch(q -> q.contains("ratekeeper_spend_usd_total") && q.contains("$budget_usd"));
    assertThat(titles).doesNotHaveDuplicates();
    // panel ids are unique (Grafana keys panels by id)
    List<Integer> ids = new ArrayList<>();
    dashboard.path("panels").forEach(p -> ids.add(p.path("id").asInt()));
    assertThat(ids).doesNotHaveDuplicates();
  }

  @Test
  void everyAlertQueriesOnlyExportedMetrics() {
    GenericKubernetesResource rule = Chart.render("monitoring").oneGeneric("PrometheusRule");
    List<Map<String, Object>> rules = rules(rule);
    assertThat(rules).extracting(x -> x.get("alert")).containsExactlyInAnyOrder(
        "RatekeeperBudgetExhausted", "RatekeeperSpendPastWarning", "RatekeeperSustainedThrottling",
        "RatekeeperStoreDown", "RatekeeperSidecarsOnMixedRevisions", "RatekeeperOperatorReconcileFailing",
        "RatekeeperWebhookCertificateExpiring");
    for (Map<String, Object> alert : rules) {
      String expr = (String) alert.get("expr");
      assertThat(ExportedMetrics.referencedIn(expr)).as("metrics of %s", alert.get("alert"))
          .isNotEmpty().isSubsetOf(EXPORTED);
      assertThat(map(alert.get("labels"))).containsKey("severity");
      assertThat(map(alert.get("annotations"))).containsKeys("summary", "description");
    }
    assertThat(expr(rules, "RatekeeperStoreDown")).isEqualTo("ratekeeper_store_up == 0");
    assertThat(expr(rules, "RatekeeperSidecarsOnMixedRevisions"))
        .contains("count by (namespace, policy, revision) (ratekeeper_policy_revision_info)").contains("> 1");
    assertThat(expr(rules, "RatekeeperSpendPastWarning")).contains("[30d]").contains("> 5000 * 80 / 100");
    assertThat(expr(rules, "RatekeeperBudgetExhausted")).contains("dimension=~\"budget|global\\\\.budget\"");
  }

  @Test
  void theSpendWarningNeedsABudgetToCompareWith() {
    GenericKubernetesResource rule = Chart.render(Map.of("monitoring.prometheusRule.enabled", true,
        "monitoring.requireCrds", false))
        .oneGeneric("PrometheusRule");
    assertThat(rules(rule)).extracting(x -> x.get("alert")).doesNotContain("RatekeeperSpendPastWarning")
        .contains("RatekeeperStoreDown");
  }

  @Test
  void monitorsScrapeTheOperatorAndEveryInjectedSidecar() {
    Rendered r = Chart.render("monitoring");
    GenericKubernetesResource sm = r.oneGeneric("ServiceMonitor");
    assertThat(sm.getMetadata().getLabels()).containsEntry("release", "prometheus");
    Map<String, Object> smSpec = WebhookTest.spec(sm);
    assertThat(first(smSpec.get("endpoints")).get("port")).isEqualTo("admin");
    Map<String, Object> serviceLabels = new java.util.HashMap<>(
        r.one(io.fabric8.kubernetes.api.model.Service.class, "ratekeeper-operator").getMetadata().getLabels());
    assertThat(map(map(smSpec.get("selector")).get("matchLabels")).entrySet()).isSubsetOf(serviceLabels.entrySet());

    GenericKubernetesResource pm = r.oneGeneric("PodMonitor");
    Map<String, Object> pmSpec = WebhookTest.spec(pm);
    assertThat((Map<?, ?>) ((Map<?, ?>) pmSpec.get("selector")).get("matchLabels"))
        .isEqualTo(Map.of("ratekeeper.dev/inject", "true"));
    // the port name the webhook gives the sidecar's admin port
    assertThat(first(pmSpec.get("podMetricsEndpoints")).get("port"))
        .isEqualTo(Repo.constant(Repo.SIDECAR_CONTAINER, "ADMIN_PORT_NAME"));
    assertThat((Map<?, ?>) pmSpec.get("namespaceSelector")).isEqualTo(Map.of("any", true));

    Map<String, Object> restricted = WebhookTest.spec(Chart.render(Map.of("monitoring.podMonitor.enabled", true,
        "monitoring.requireCrds", false, "watchNamespaces[0]", "team-a")).oneGeneric("PodMonitor"));
    assertThat((Map<?, ?>) restricted.get("namespaceSelector")).isEqualTo(Map.of("matchNames", List.of("team-a")));
  }

  /**
   * By default the Prometheus Operator's kinds are rendered only where the API server serves them:
   * helm template here asks no cluster, so nothing is rendered even when enabled (the cluster tests
   * install with and without the CRDs).
   */
  @Test
  void monitoringKindsNeedTheirCrdsUnlessToldOtherwise() {
    Rendered r = Chart.render(Map.of("monitoring.serviceMonitor.enabled", true, "monitoring.podMonitor.enabled", true,
        "monitoring.prometheusRule.enabled", true, "monitoring.dashboard.enabled", true));
    assertThat(r.generic("ServiceMonitor")).isEmpty();
    assertThat(r.generic("PodMonitor")).isEmpty();
    assertThat(r.generic("PrometheusRule")).isEmpty();
    assertThat(r.has("ConfigMap", "ratekeeper-dashboard")).as("a ConfigMap needs no CRD").isTrue();
  }

  @Test
  void monitoringIsOffByDefault() {
    Rendered r = Chart.render("default");
    assertThat(r.generic("ServiceMonitor")).isEmpty();
    assertThat(r.generic("PodMonitor")).isEmpty();
    assertThat(r.generic("PrometheusRule")).isEmpty();
    assertThat(r.has("ConfigMap", "ratekeeper-dashboard")).isFalse();
  }

  @SuppressWarnings("unchecked")
  static List<Map<String, Object>> rules(GenericKubernetesResource rule) {
    List<Map<String, Object>> groups = (List<Map<String, Object>>) WebhookTest.spec(rule).get("groups");
    List<Map<String, Object>> out = new ArrayList<>();
    groups.forEach(g -> out.addAll((List<Map<String, Object>>) g.get("rules")));
    return out;
  }

  private static String expr(List<Map<String, Object>> rules, String alert) {
    return rules.stream().filter(r -> alert.equals(r.get("alert"))).map(r -> ((String) r.get("expr")).strip())
        .findFirst().orElseThrow();
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> map(Object o) {
    return (Map<String, Object>) o;
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> first(Object list) {
    return ((List<Map<String, Object>>) list).get(0);
  }
}
