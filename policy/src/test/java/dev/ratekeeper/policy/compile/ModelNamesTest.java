package dev.ratekeeper.policy.compile;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.Pricing;
import dev.ratekeeper.policy.api.ModelQuota;
import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import dev.ratekeeper.policy.api.Tier;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Dated aliases are governed by their own entries first, then by those of their undated name. */
class ModelNamesTest {

  @Test
  void providerDateSuffixesAreRecognised() {
    assertThat(ModelNames.undated("claude-haiku-4-5-20251001")).isEqualTo("claude-haiku-4-5");
    assertThat(ModelNames.undated("gpt-4o-2024-08-06")).isEqualTo("gpt-4o");
    assertThat(ModelNames.undated("claude-haiku-4-5")).isNull();
    assertThat(ModelNames.undated("gpt-4o")).isNull();
    assertThat(ModelNames.undated("model-2024081")).isNull();
    assertThat(ModelNames.undated("x-2024-8-06")).isNull();
    assertThat(ModelNames.undated("-20251001")).isNull();
    assertThat(ModelNames.undated("")).isNull();
  }

  @Test
  void aDatedAliasHitsTheQuotaPriceAndAllowListOfItsUndatedName() {
    CompiledPolicy policy = compile(List.of(model("claude-haiku-4-5", "1.00"), model("gpt-4o-2024-08-06", "9.00"),
        model("gpt-4o", "2.50")));

    assertThat(policy.model("claude-haiku-4-5-20251001")).get().extracting(CompiledModel::pattern)
        .isEqualTo("claude-haiku-4-5");
    // an entry for the dated name itself wins
    assertThat(policy.model("gpt-4o-2024-08-06")).get().extracting(CompiledModel::pattern)
        .isEqualTo("gpt-4o-2024-08-06");
    assertThat(policy.model("gpt-4o-2024-11-20")).get().extracting(CompiledModel::pattern).isEqualTo("gpt-4o");
    assertThat(policy.model("claude-haiku-4-5x-20251001")).isEmpty();

    CompiledTier tier = policy.tiers().get(0);
    assertThat(tier.allowsModel("claude-haiku-4-5-20251001")).isTrue();
    assertThat(tier.allowsModel("claude-opus-4-5-20251101")).isFalse();
  }

  private static CompiledPolicy compile(List<ModelQuota> models) {
    RateLimitPolicySpec spec = new RateLimitPolicySpec();
    Tier tier = new Tier();
    tier.name = "free";
    tier.models = List.of("claude-haiku-4-5", "gpt-4o");
    spec.tiers = List.of(tier);
    spec.models = models;
    Compilation compilation = PolicyCompiler.compile(new PolicyId("ns", "p"), spec);
    assertThat(compilation.violations()).isEmpty();
    return compilation.policy();
  }

  private static ModelQuota model(String name, String input) {
    ModelQuota quota = new ModelQuota();
    quota.name = name;
    quota.pricing = new Pricing();
    quota.pricing.inputPerMillion = input;
    quota.pricing.outputPerMillion = "5.00";
    return quota;
  }
}
