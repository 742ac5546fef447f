package dev.ratekeeper.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyEgressRule;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The optional NetworkPolicies: what each lets through. */
class NetworkPolicyTest {

  @Test
  void agentPodsReachOnlyDnsRedisAndTheProviders() {
    Rendered r = Chart.render("network-policies");
    List<NetworkPolicy> agent = r.all(NetworkPolicy.class).stream()
        .filter(p -> p.getMetadata().getName().equals("ratekeeper-agent-egress")).toList();
    assertThat(agent).extracting(p -> p.getMetadata().getNamespace()).containsExactly("team-a", "team-b");
    NetworkPolicy p = agent.get(0);
    assertThat(p.getSpec().getPodSelector().getMatchLabels()).isEqualTo(Map.of("ratekeeper.dev/inject", "true"));
    assertThat(p.getSpec().getPolicyTypes()).containsExactly("Egress");
    List<NetworkPolicyEgressRule> egress = p.getSpec().getEgress();
    assertThat(egress).hasSize(3);
    assertThat(egress.get(0).getTo()).isNullOrEmpty();
    assertThat(egress.get(0).getPorts()).allMatch(port -> port.getPort().getIntVal() == 53);
    NetworkPolicyPeer redis = egress.get(1).getTo().get(0);
    assertThat(redis.getNamespaceSelector().getMatchLabels())
        .containsEntry("kubernetes.io/metadata.name", Chart.NAMESPACE);
    assertThat(redis.getPodSelector().getMatchLabels()).containsEntry("app.kubernetes.io/component", "redis");
    assertThat(egress.get(2).getTo()).extracting(peer -> peer.getIpBlock().getCidr()).containsExactly("160.79.104.0/23");
    assertThat(egress.get(2).getPorts()).singleElement().satisfies(port -> assertThat(port.getPort().getIntVal())
        .isEqualTo(443));
  }

  @Test
  void redisAcceptsOnlyTheOperatorAndInjectedPods() {
    Rendered r = Chart.render("network-policies");
    NetworkPolicy redis = r.one(NetworkPolicy.class, "ratekeeper-redis");
    assertThat(redis.getSpec().getPolicyTypes()).containsExactly("Ingress", "Egress");
    assertThat(redis.getSpec().getEgress()).isEmpty();
    List<NetworkPolicyPeer> from = redis.getSpec().getIngress().get(0).getFrom();
    assertThat(from).hasSize(2);
    assertThat(from.get(0).getPodSelector().getMatchLabels()).containsEntry("app.kubernetes.io/component", "operator");
    assertThat(from.get(1).getPodSelector().getMatchLabels()).isEqualTo(Map.of("ratekeeper.dev/inject", "true"));
  }

  @Test
  void theOperatorTakesWebhookCallsAndReachesOnlyDnsTheApiServerAndRedis() {
    Rendered r = Chart.render("network-policies");
    NetworkPolicy op = r.one(NetworkPolicy.class, "ratekeeper-operator");
    assertThat(op.getSpec().getIngress()).anySatisfy(rule -> {
      assertThat(rule.getFrom()).isNullOrEmpty();
      assertThat(rule.getPorts()).singleElement().satisfies(port ->
          assertThat(port.getPort().getStrVal()).isEqualTo("webhook"));
    });
    assertThat(op.getSpec().getEgress()).hasSize(3);
    assertThat(op.getSpec().getEgress().get(1).getTo()).extracting(peer -> peer.getIpBlock().getCidr())
        .containsExactly("10.96.0.1/32");
  }

  @Test
  void externalRedisEgressUsesThePortOfItsUrl() {
    Rendered r = Chart.render(Map.of("networkPolicy.enabled", true, "redis.mode", "external",
        "redis.external.url", "rediss://redis.data.svc:6380"));
    NetworkPolicy op = r.one(NetworkPolicy.class, "ratekeeper-operator");
    assertThat(op.getSpec().getEgress().get(2).getPorts().get(0).getPort().getIntVal()).isEqualTo(6380);
    assertThat(r.all(NetworkPolicy.class)).noneMatch(p -> p.getMetadata().getName().equals("ratekeeper-redis"));

    Rendered agents = Chart.render(Map.of("agentNetworkPolicy.enabled", true, "agentNetworkPolicy.namespaces[0]", "a",
        "agentNetworkPolicy.providerCidrs[0]", "160.79.104.0/23", "redis.mode", "external",
        "redis.external.url", "redis://10.1.2.3", "networkPolicy.externalRedisCidrs[0]", "10.1.2.3/32"));
    NetworkPolicyEgressRule toRedis = agents.one(NetworkPolicy.class, "ratekeeper-agent-egress").getSpec()
        .getEgress().get(1);
    assertThat(toRedis.getTo()).extracting(peer -> peer.getIpBlock().getCidr()).containsExactly("10.1.2.3/32");
    // only Redis's port: the Redis rule must not open the CIDR on every port
    assertThat(toRedis.getPorts()).singleElement().satisfies(port -> assertThat(port.getPort().getIntVal())
        .isEqualTo(6379));
  }

  @Test
  void theAgentPolicyNeedsTheProvidersRanges() {
    IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
        () -> Chart.render(Map.of("agentNetworkPolicy.enabled", true, "agentNetworkPolicy.namespaces[0]", "a")));
    assertThat(e.getMessage()).contains("agentNetworkPolicy.providerCidrs");
  }

  @Test
  void offByDefault() {
    assertThat(Chart.render("default").all(NetworkPolicy.class)).isEmpty();
  }
}
