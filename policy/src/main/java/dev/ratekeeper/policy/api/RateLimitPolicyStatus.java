package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/** What the operator observed: acceptance, enforcement across sidecars, and usage. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class RateLimitPolicyStatus {
  @JsonPropertyDescription("metadata.generation the operator last processed.")
  public Long observedGeneration;

  @JsonPropertyDescription("Hash of the compiled policy now enforced (the last accepted spec).")
  public String revision;

  @JsonPropertyDescription("Accepted: the spec is valid and compiled. Enforced: how many live sidecars enforce the revision.")
  public List<Condition> conditions = new ArrayList<>();

  @JsonPropertyDescription("Live sidecars under this policy and how many enforce the current revision.")
  public SidecarCounts sidecars;

  @JsonPropertyDescription("Admitted, throttled and spent this budget period.")
  public Usage usage;

  @Override
  public boolean equals(Object o) {
    return o instanceof RateLimitPolicyStatus s && Objects.equals(observedGeneration, s.observedGeneration)
        && Objects.equals(revision, s.revision) && Objects.equals(conditions, s.conditions)
        && Objects.equals(sidecars, s.sidecars) && Objects.equals(usage, s.usage);
  }

  @Override
  public int hashCode() {
    return Objects.hash(observedGeneration, revision, conditions, sidecars, usage);
  }
}
