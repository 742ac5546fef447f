package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Size;

/** How the sidecar learns which end user a request is for, and that user's tier. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class Identity {
  public static final String DEFAULT_USER_HEADER = "X-Ratekeeper-User";
  public static final String DEFAULT_TIER_HEADER = "X-Ratekeeper-Tier";
  public static final String DEFAULT_API_KEY_HEADER = "X-Ratekeeper-Api-Key";
  public static final String DEFAULT_RUN_HEADER = "X-Ratekeeper-Run";

  @JsonPropertyDescription("Request header in which the agent names the end user it acts for; absent header: user \"anonymous\". Default X-Ratekeeper-User.")
  @Size(min = 1, max = 128)
  @Pattern(Names.HEADER_PATTERN)
  public String userHeader;

  @JsonPropertyDescription("Request header naming the user's tier; honoured only with trustTierHeader. Default X-Ratekeeper-Tier.")
  @Size(min = 1, max = 128)
  @Pattern(Names.HEADER_PATTERN)
  public String tierHeader;

  @JsonPropertyDescription("Request header in which the agent names its run (a session, a task), for the tiers' run limits; absent header: the call is outside any run. Default X-Ratekeeper-Run. Stripped before forwarding.")
  @Size(min = 1, max = 128)
  @Pattern(Names.HEADER_PATTERN)
  public String runHeader;

  @JsonPropertyDescription("Trust the tier header sent by the agent. Default false.")
  public Boolean trustTierHeader;

  @JsonPropertyDescription("Request header carrying an end user's own key, mapped to a user by apiKeySecretRef. Default X-Ratekeeper-Api-Key. Never logged, never forwarded.")
  @Size(min = 1, max = 128)
  @Pattern(Names.HEADER_PATTERN)
  public String apiKeyHeader;

  @JsonPropertyDescription("Refuse (401) requests that carry no end-user key in apiKeyHeader, so leaving the key out is no way around a user's limits. Needs apiKeySecretRef. Default false.")
  public Boolean requireApiKey;

  @JsonPropertyDescription("Secret whose data maps user ids to their keys (<user-id>: <key>); held hashed (SHA-256).")
  public SecretRef apiKeySecretRef;
}
