package dev.ratekeeper.policy.compile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

class PolicyCodecTest {
  /** Users out of key order, unset optional parts. */
  private static final String YAML = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: agents}
      spec:
        tiers:
        - name: free
          requests: {perMinute: 10, burst: 5}
        - name: premium
          budget: {usd: "200", period: Monthly}
        users:
        - {id: bob, tier: free}
        - {id: alice, tier: premium}
        models:
        - name: claude-haiku-*
          pricing: {inputPerMillion: "1", outputPerMillion: "5", cachedInputPerMillion: "0.1"}
          fallback: gpt-4o-mini
        - name: gpt-4o-mini
      """;

  private static final CompiledPolicy POLICY =
      PolicyCompiler.compile(new PolicyId("team-a", "agents"), PolicyCompilerTest.parse(YAML).spec()).policy();

  @Test
  void roundTripsThroughJson() {
    String json = PolicyCodec.toJson(POLICY);

    CompiledPolicy back = PolicyCodec.fromJson(json);

    assertThat(back).isEqualTo(POLICY);
    assertThat(PolicyCodec.toJson(back)).isEqualTo(json);
    assertThat(back.schemaVersion()).isEqualTo(CompiledPolicy.SCHEMA_VERSION);
  }

  @Test
  void jsonIsCanonicalSortedWithNullsKept() throws Exception {
    String json = PolicyCodec.toJson(POLICY);

    assertThat(json).startsWith("{\"allowUnmeterable\":[],\"clampMaxTokens\":");
    assertThat(json).contains("\"schemaVersion\":" + CompiledPolicy.SCHEMA_VERSION);
    assertThat(json).contains("\"budget\":null");
    assertThat(json).contains("\"users\":{\"alice\":\"premium\",\"bob\":\"free\"}");
  }

  @Test
  void refusesAnotherSchemaVersionBeforeReadingAnythingElse() throws Exception {
    ObjectNode tree = (ObjectNode) PolicyCodec.mapper().readTree(PolicyCodec.toJson(POLICY));
    tree.put("schemaVersion", CompiledPolicy.SCHEMA_VERSION + 1);
    tree.put("tiers", "a shape this build does not know");

    assertThatThrownBy(() -> PolicyCodec.fromJson(tree.toString()))
        .isInstanceOfSatisfying(PolicyCodec.UnsupportedSchemaException.class,
            e -> assertThat(e.schemaVersion()).isEqualTo(CompiledPolicy.SCHEMA_VERSION + 1))
        .hasMessage("compiled policy has schemaVersion " + (CompiledPolicy.SCHEMA_VERSION + 1)
            + "; this build understands " + CompiledPolicy.SCHEMA_VERSION);
  }

  @Test
  void refusesAPolicyWithoutSchemaVersion() throws Exception {
    ObjectNode tree = (ObjectNode) PolicyCodec.mapper().readTree(PolicyCodec.toJson(POLICY));
    tree.remove("schemaVersion");

    assertThatThrownBy(() -> PolicyCodec.fromJson(tree.toString()))
        .isInstanceOfSatisfying(PolicyCodec.UnsupportedSchemaException.class,
            e -> assertThat(e.schemaVersion()).isEqualTo(-1));
  }
}
