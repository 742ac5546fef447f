package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;

/** Quotas and prices of one model (or every model matching a glob), shared by everyone under the policy. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class ModelQuota {
  @JsonPropertyDescription("Model name, exact (claude-sonnet-4-6) or a glob with * and ? (claude-haiku-*). Exact names match before globs; among globs the first listed wins.")
  @Required
  @Size(min = 1, max = 128)
  public String name;

  @JsonPropertyDescription("Request rate of this model for everyone under the policy.")
  public RequestRate requests;

  @JsonPropertyDescription("Token quotas of this model for everyone under the policy.")
  public ModelTokens tokens;

  @JsonPropertyDescription("List prices; required for budgeted users to call the model.")
  public Pricing pricing;

  @JsonPropertyDescription("Model to use instead when this model's own quota is exhausted; must match an entry of spec.models.")
  @Size(min = 1, max = 128)
  public String fallback;

  @JsonPropertyDescription("A cheaper model (an entry of spec.models with pricing) to downgrade to before overspending: used when the user's, run's or global budget cannot pay for this model's reservation but can for it, or once spend passes downgradeAtPercent. The tier's allow-list still applies.")
  @Size(min = 1, max = 128)
  public String budgetFallback;

  @JsonPropertyDescription("Percent (1-100) of a budget (user, run or global) from which calls to this model go to budgetFallback even while the budget could still pay. Absent: only when it cannot.")
  @Min(1)
  @Max(100)
  public Integer downgradeAtPercent;

  @JsonPropertyDescription("Reserve, instead of the request's whole output cap, this percentile (50-100) of the outputs the model recently produced for the caller's tier (never more than the cap; the cap until 20 outputs were seen). What a call uses beyond its reservation is still charged on reconcile; a budget can then be exceeded by at most the in-flight calls' caps minus their reservations. Absent: reserve the cap.")
  @Min(50)
  @Max(100)
  public Integer reserveOutputPercentile;
}
