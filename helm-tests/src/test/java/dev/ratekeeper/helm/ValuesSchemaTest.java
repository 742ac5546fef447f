package dev.ratekeeper.helm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * values.schema.json refuses bad values: one failing fixture per rule, each with the field path
 * Helm names in its message.
 */
class ValuesSchemaTest {

  static Stream<Arguments> badValues() {
    return Stream.of(
        bad("/webhook/failurePolicy", "webhook.failurePolicy", "Sometimes"),
        bad("/webhook/reinvocationPolicy", "webhook.reinvocationPolicy", "Always"),
        bad("/webhook/onMissingPolicy", "webhook.onMissingPolicy", "Inject"),
        bad("/webhook/timeoutSeconds", "webhook.timeoutSeconds", 60),
        bad("/webhook/port", "webhook.port", 70000),
        bad("/webhook/certificates/renewBefore", "webhook.certificates.renewBefore", "30d"),
        bad("/webhook/certificates/extraDnsNames/0", "webhook.certificates.extraDnsNames[0]", "Not_A_Name"),
        bad("/redis/appendfsync", "redis.appendfsync", "no"),
        bad("/redis/mode", "redis.mode", "sentinel"),
        bad("/redis/external/url", "redis.mode", "external"),
        bad("/redis/external/url", "redis.external.url", "redis://user:secret@redis:6379"),
        bad("/redis/external/url", "redis.external.url", "http://redis:6379"),
        bad("/redis/persistence/size", "redis.persistence.size", "lots"),
        bad("/redis/external/topology", "redis.external.topology", "replicated"),
        bad("/redis/external/nodes/0", "redis.external.nodes[0]", "redis://user:secret@redis:6379"),
        bad("/redis/external/tls/caCert", "redis.external.tls.caCert", "not a certificate"),
        bad("/redis/external/nodes", "redis.external.topology", "cluster"),
        bad("/redis/tenantUsers/secretName", "redis.tenantUsers.secretName", "Not_A_Name"),
        bad("/redis/maxmemory", "redis.maxmemory", "256 megabytes"),
        bad("/operator/replicas", "operator.replicas", 0),
        bad("/operator/refreshInterval", "operator.refreshInterval", "10 seconds"),
        bad("/operator/image/pullPolicy", "operator.image.pullPolicy", "Sometimes"),
        bad("/operator/secretSelector", "operator.secretSelector", "ratekeeper.dev/secret=true;rm"),
        bad("/watchNamespaces/0", "watchNamespaces[0]", "Team_A"),
        bad("/sidecar/mode", "sidecar.mode", "Sidecar"),
        bad("/sidecar/resources/memoryLimit", "sidecar.resources.memoryLimit", "lots"),
        bad("/sidecar/redisUrl", "sidecar.redisUrl", "redis://:pw@redis:6379"),
        bad("/monitoring/prometheusRule/spendWarning/percent", "monitoring.prometheusRule.spendWarning.percent", 150),
        bad("/monitoring/prometheusRule/throttlingRatio", "monitoring.prometheusRule.throttlingRatio", 2),
        bad("/gateway/port", "gateway.port", 70000),
        bad("/gateway/limits/maxBody", "gateway.limits.maxBody", "32 megabytes"),
        bad("/networkPolicy/apiServer/cidrs/0", "networkPolicy.apiServer.cidrs[0]", "kubernetes.default"),
        bad("'replicas'", "replicas", 3),
        bad("'enable'", "monitoring.serviceMonitor.enable", true));
  }

  @ParameterizedTest(name = "{1}={2}")
  @MethodSource("badValues")
  void refusesWithTheFieldsPath(String field, String key, Object value) {
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> Chart.render(Map.of(key, value)));
    assertThat(e.getMessage()).contains("don't meet the specifications of the schema").contains(field);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("dev.ratekeeper.helm.Cases#all")
  void acceptsEveryCase(String caseName) {
    assertThat(Chart.render(caseName).objects).isNotEmpty();
  }

  /** e2e/kind/run.sh (and the cluster tests) install the chart with e2e/kind/values.yaml: it stays valid as the chart changes. */
  @Test
  void acceptsTheValuesTheEndToEndRunsUse() {
    assertThat(Repo.read("e2e/kind/run.sh")).contains("-f e2e/kind/values.yaml");
    Rendered r = Chart.render(Repo.ROOT.resolve("e2e/kind/values.yaml"), Map.of());
    assertThat(r.operatorContainer().getImage()).isEqualTo("ratekeeper-operator:e2e");
  }

  private static Arguments bad(String field, String key, Object value) {
    return Arguments.of(field, key, value);
  }
}
