package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import java.util.List;

/** A class of end users. Requests, tokens, concurrency and budget apply to each user of the tier separately. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class Tier {
  @JsonPropertyDescription("Tier name, e.g. free, pro, premium.")
  @Required
  @Size(min = 1, max = 63)
  @Pattern(Names.PATTERN)
  public String name;

  @JsonPropertyDescription("Queue priority: 0 is the most important. Orders requests waiting for capacity (maxQueueWait). Default 0.")
  @Min(0)
  @Max(1000)
  public Integer priority;

  @JsonPropertyDescription("Request rate of each user of this tier.")
  public RequestRate requests;

  @JsonPropertyDescription("Token limits of each user of this tier.")
  public TierTokens tokens;

  @JsonPropertyDescription("Requests in flight at once for each user of this tier.")
  @Min(1)
  public Integer concurrency;

  @JsonPropertyDescription("Dollar budget of each user of this tier for a UTC calendar period.")
  public Budget budget;

  @JsonPropertyDescription("Models this tier may use: exact names or globs (* and ?). Empty or absent: every model.")
  @Size(max = 64)
  public List<String> models;

  @JsonPropertyDescription("Percent (1-100) of each global rate that all users of this tier together may consume. Absent: 100.")
  @Min(1)
  @Max(100)
  public Integer globalShare;

  @JsonPropertyDescription("Caps on each run of each user of this tier: the agent names its run in identity.runHeader; calls without it are outside any run.")
  public RunLimits run;

  @JsonPropertyDescription("How long a request may wait for capacity before it is answered 429, e.g. 0s, 500ms, 2s. Default 0s.")
  @Pattern(Durations.PATTERN)
  public String maxQueueWait;
}
