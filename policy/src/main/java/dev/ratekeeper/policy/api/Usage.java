package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.List;
import java.util.Objects;

/** What the fleet admitted, throttled and spent in the current period. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class Usage {
  @JsonPropertyDescription("The period these figures are for, e.g. 2026-11 (monthly), 2026-W47 (weekly), 2026-11-23 (daily).")
  public String period;

  @JsonPropertyDescription("USD spent under the policy this period.")
  public String spendUsd;

  @JsonPropertyDescription("Requests admitted this period.")
  public Long requests;

  @JsonPropertyDescription("Requests answered 429 this period.")
  public Long throttled;

  @JsonPropertyDescription("Calls this period charged on the sidecars' estimate instead of the provider's usage figures (an answer without usage, a call cut short, a model without pricing). Absent when none.")
  public Long estimatedCharges;

  @JsonPropertyDescription("The biggest spenders of the period, at most 10.")
  public List<TopUser> topUsers;

  @Override
  public boolean equals(Object o) {
    return o instanceof Usage u && Objects.equals(period, u.period) && Objects.equals(spendUsd, u.spendUsd)
        && Objects.equals(requests, u.requests) && Objects.equals(throttled, u.throttled)
        && Objects.equals(estimatedCharges, u.estimatedCharges) && Objects.equals(topUsers, u.topUsers);
  }

  @Override
  public int hashCode() {
    return Objects.hash(period, spendUsd, requests, throttled, estimatedCharges, topUsers);
  }
}
