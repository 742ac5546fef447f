package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;

/** List prices of a model in US dollars per million tokens. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class Pricing {
  @JsonPropertyDescription("USD per million uncached input tokens, e.g. \"3.00\".")
  @Required
  @Pattern(Money.PATTERN)
  public String inputPerMillion;

  @JsonPropertyDescription("USD per million output tokens, e.g. \"15.00\".")
  @Required
  @Pattern(Money.PATTERN)
  public String outputPerMillion;

  @JsonPropertyDescription("USD per million input tokens read from the prompt cache. Absent: inputPerMillion.")
  @Pattern(Money.PATTERN)
  public String cachedInputPerMillion;

  @JsonPropertyDescription("USD per million input tokens written to the prompt cache (Anthropic). Absent: inputPerMillion.")
  @Pattern(Money.PATTERN)
  public String cacheWritePerMillion;
}
