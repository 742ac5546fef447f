package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.Objects;

/** One of the biggest spenders of the current period. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class TopUser {
  @JsonPropertyDescription("End-user id.")
  public String user;

  @JsonPropertyDescription("The user's tier.")
  public String tier;

  @JsonPropertyDescription("USD spent this period.")
  public String spendUsd;

  @JsonPropertyDescription("LLM tokens used this period.")
  public Long tokens;

  public TopUser() {}

  public TopUser(String user, String tier, String spendUsd, Long tokens) {
    this.user = user;
    this.tier = tier;
    this.spendUsd = spendUsd;
    this.tokens = tokens;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TopUser t && Objects.equals(user, t.user) && Objects.equals(tier, t.tier)
        && Objects.equals(spendUsd, t.spendUsd) && Objects.equals(tokens, t.tokens);
  }

  @Override
  public int hashCode() {
    return Objects.hash(user, tier, spendUsd, tokens);
  }
}
