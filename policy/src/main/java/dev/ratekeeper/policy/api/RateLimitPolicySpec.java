package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.List;

/**
 * What a platform team declares: tiers of end users, per-model quotas and prices, the org-wide
 * provider quota, budgets, upstreams and failure behaviour. Cross-field rules CEL can express are
 * on this class; the rest is {@link dev.ratekeeper.policy.validation.PolicyValidator}'s.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(value = "!has(self.defaultTier) || self.tiers.exists(t, t.name == self.defaultTier)",
    message = "defaultTier must name one of spec.tiers", fieldPath = ".defaultTier")
@ValidationRule(value = "self.tiers.all(t, self.tiers.exists_one(u, u.name == t.name))",
    message = "tier names must be unique", fieldPath = ".tiers")
@ValidationRule(value = "!has(self.users) || self.users.all(u, self.tiers.exists(t, t.name == u.tier))",
    message = "every users[].tier must name one of spec.tiers", fieldPath = ".users")
@ValidationRule(value = "!has(self.models) || self.models.all(m, self.models.exists_one(n, n.name == m.name))",
    message = "model names must be unique", fieldPath = ".models")
@ValidationRule(value = "!has(self.upstreams) || self.upstreams.all(u, self.upstreams.exists_one(v, v.name == u.name))",
    message = "upstream names must be unique", fieldPath = ".upstreams")
public class RateLimitPolicySpec {
  @JsonPropertyDescription("Enforce blocks requests over a limit; Shadow only decides, counts and reports what would have been blocked. Default Enforce.")
  public Mode mode;

  @JsonPropertyDescription("How the sidecar identifies the end user and their tier.")
  public Identity identity;

  @JsonPropertyDescription("Tier of users not listed in spec.users and not otherwise identified. Default: the first tier.")
  @Size(min = 1, max = 63)
  public String defaultTier;

  @JsonPropertyDescription("Output tokens reserved when a request sets no output cap and its tier has no tokens.maxPerRequest. Default 4096.")
  @Min(1)
  public Long defaultMaxTokens;

  @JsonPropertyDescription("Classes of end users with their own limits.")
  @Required
  @Size(min = 1, max = 32)
  public List<Tier> tiers;

  @JsonPropertyDescription("Users placed in a tier by id.")
  @Size(max = 5000)
  public List<UserAssignment> users;

  @JsonPropertyDescription("Per-model quotas, prices and fallbacks, shared by everyone under the policy.")
  @Size(max = 64)
  public List<ModelQuota> models;

  @JsonPropertyDescription("The provider quota and spend cap shared by every pod under the policy.")
  public GlobalLimits global;

  @JsonPropertyDescription("Budget warning and clamping behaviour.")
  public BudgetSettings budgets;

  @JsonPropertyDescription("Providers to forward to. Bare paths (/v1/messages, /v1/chat/completions, ...) go to the first of each format. Default: anthropic at https://api.anthropic.com and openai at https://api.openai.com.")
  @Size(max = 16)
  public List<Upstream> upstreams;

  @JsonPropertyDescription("Free, read-only provider endpoints (GET /v1/models, count_tokens, reading batches and files; see docs/endpoints.md): RequestsOnly (request rates only), PassThrough or Deny. Default RequestsOnly. Billed endpoints are always metered or refused, and unknown POSTs are refused, whatever this says.")
  public UnmeteredPaths unmeteredPaths;

  @JsonPropertyDescription("Billed endpoint groups Ratekeeper cannot meter (Files, Batches, Images, Audio, Realtime, FineTuning; OnYourData: Azure OpenAI chat bodies carrying data_sources): refused unless listed here; a listed group counts request rates only (OnYourData: the chat call's tokens are still metered, its searches and embeddings are not), its cost escapes token quotas and budgets. Default: none.")
  @Size(max = 7)
  public List<UnmeterableEndpoint> allowUnmeterable;

  @JsonPropertyDescription("What sidecars do while Redis is unreachable: FailOpen, FailClosed or LocalFallback. Default LocalFallback.")
  public StoreFailureMode onStoreUnavailable;
}
