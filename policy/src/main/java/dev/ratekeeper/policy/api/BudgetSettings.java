package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;

/** How budgets warn and clamp. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class BudgetSettings {
  @JsonPropertyDescription("Percent of a budget (committed spend plus in-flight reservations) at which responses carry x-ratekeeper-budget-warning. Default 80.")
  @Min(1)
  @Max(100)
  public Integer warnAtPercent;

  @JsonPropertyDescription("Lower a request's output cap to what the remaining budget can pay for instead of denying it. Default false.")
  public Boolean clampMaxTokens;

  @JsonPropertyDescription("Refuse (400) calls to a model without pricing even where no budget applies, so no spend goes uncounted. Default false: unpriced models are refused only under a budget.")
  public Boolean refuseUnpricedModels;
}
