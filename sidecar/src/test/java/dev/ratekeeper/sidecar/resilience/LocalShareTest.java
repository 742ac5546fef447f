package dev.ratekeeper.sidecar.resilience;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledTier;
import dev.ratekeeper.policy.compile.PolicyCompiler;
import dev.ratekeeper.policy.compile.PolicyDocument;
import org.junit.jupiter.api.Test;

class LocalShareTest {
  @Test
  void everyLimitIsDividedAmongLiveSidecarsButNeverBelowOne() throws Exception {
    PolicyDocument doc = PolicyDocument.parse("""
        apiVersion: ratekeeper.dev/v1alpha1
        kind: RateLimitPolicy
        metadata: {name: p}
        spec:
          tiers:
          - name: t
            requests: {perMinute: 60, burst: 10}
            tokens: {perMinute: 1000, perHour: 9000, perDay: 90000, maxPerRequest: 100}
            concurrency: 3
            budget: {usd: "3.00", period: Monthly}
          models:
          - {name: m, requests: {perMinute: 2}, tokens: {perDay: 600}}
          global:
            requests: {perMinute: 500}
            budget: {usd: "1000", period: Monthly}
        """);
    CompiledPolicy policy = PolicyCompiler.compile(doc.id(), doc.spec()).policy();
    CompiledPolicy third = LocalShare.of(policy, 3);
    CompiledTier t = third.tiers().get(0);
    assertThat(t.requests().limit()).isEqualTo(20);
    assertThat(t.requests().burst()).isEqualTo(3);
    assertThat(t.tokensPerMinute().burst()).isEqualTo(333);
    assertThat(t.tokensPerHour()).isEqualTo(3000);
    assertThat(t.tokensPerDay()).isEqualTo(30000);
    assertThat(t.maxPerRequest()).isEqualTo(100);
    assertThat(t.concurrency()).isEqualTo(1);
    assertThat(t.budget().microUsd()).isEqualTo(1_000_000);
    assertThat(third.models().get(0).requests().limit()).isEqualTo(1);
    assertThat(third.models().get(0).tokensPerDay()).isEqualTo(200);
    assertThat(third.global().requests().limit()).isEqualTo(166);
    assertThat(third.global().budget().microUsd()).isEqualTo(333_333_333);
    assertThat(LocalShare.of(policy, 1)).isSameAs(policy);
  }
}
