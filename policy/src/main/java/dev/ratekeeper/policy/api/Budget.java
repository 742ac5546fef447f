package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;

/** A dollar budget for a UTC calendar period. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class Budget {
  @JsonPropertyDescription("US dollars per period, an exact decimal with at most 6 fraction digits, e.g. \"20.00\".")
  @Required
  @Pattern(Money.PATTERN)
  public String usd;

  @JsonPropertyDescription("Budget period in UTC: Daily, Weekly (ISO weeks, Monday 00:00 UTC) or Monthly.")
  @Required
  public BudgetPeriod period;

  public Budget() {}

  public Budget(String usd, BudgetPeriod period) {
    this.usd = usd;
    this.period = period;
  }
}
