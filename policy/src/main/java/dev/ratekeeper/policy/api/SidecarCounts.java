package dev.ratekeeper.policy.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.Objects;

/** Live sidecars under a policy, from their heartbeats. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class SidecarCounts {
  @JsonPropertyDescription("Sidecars with a recent heartbeat.")
  public Integer total;

  @JsonPropertyDescription("Of those, sidecars enforcing status.revision.")
  public Integer synced;

  public SidecarCounts() {}

  public SidecarCounts(Integer total, Integer synced) {
    this.total = total;
    this.synced = synced;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SidecarCounts s && Objects.equals(total, s.total) && Objects.equals(synced, s.synced);
  }

  @Override
  public int hashCode() {
    return Objects.hash(total, synced);
  }
}
