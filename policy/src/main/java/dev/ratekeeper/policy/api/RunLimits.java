package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;

/**
 * Caps on one agent run (a session, a task, a conversation) named by the agent in
 * {@code identity.runHeader}; each run of each user is counted on its own, shared by every sidecar.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class RunLimits {
  public static final String DEFAULT_IDLE_TIMEOUT = "1h";

  @JsonPropertyDescription("US dollars one run may spend, an exact decimal with at most 6 fraction digits, e.g. \"1.00\". Reserved at admission, reconciled with the real usage.")
  @Pattern(Money.PATTERN)
  public String usd;

  @JsonPropertyDescription("Tokens (input, cached input and output) one run may use.")
  @Min(1)
  public Long tokens;

  @JsonPropertyDescription("LLM calls one run may make (the agent's iterations).")
  @Min(1)
  public Long requests;

  @JsonPropertyDescription("A run's counts are forgotten after this long without a call, e.g. 30m, 1h. Default 1h, at most 7 days.")
  @Pattern(Durations.PATTERN)
  public String idleTimeout;
}
