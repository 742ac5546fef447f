package dev.ratekeeper.policy.compile;

import dev.ratekeeper.policy.validation.Violation;
import java.util.List;
import java.util.stream.Collectors;

/** The outcome of compiling a spec: a policy, or every violation found. */
public record Compilation(CompiledPolicy policy, List<Violation> violations) {
  public boolean ok() {
    return policy != null;
  }

  /** All violations, one per line, as users see them. */
  public String describeViolations() {
    return violations.stream().map(Violation::toString).collect(Collectors.joining("\n"));
  }
}
