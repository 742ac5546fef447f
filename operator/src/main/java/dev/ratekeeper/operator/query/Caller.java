package dev.ratekeeper.operator.query;

import java.util.List;

/** Who asks, as the Kubernetes API server authenticated them and told the operator (front-proxy headers). */
public record Caller(String user, List<String> groups) {
  public Caller {
    groups = List.copyOf(groups);
  }
}
