package dev.ratekeeper.operator.status;

import dev.ratekeeper.policy.api.SidecarCounts;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The {@code Enforced} condition and {@code status.sidecars}, from sidecar heartbeats. A sidecar is
 * live when its last heartbeat is at most the liveness window old; the policy is enforced when at
 * least one sidecar is live and every live sidecar enforces the current revision.
 *
 * <ul>
 *   <li>True / {@value #SYNCED}: "5/5 sidecars enforce revision 7f3c2a1".
 *   <li>False / {@value #SIDECARS_BEHIND}: some live sidecars report another revision (or none).
 *   <li>False / {@value #NO_SIDECARS}: no sidecar has reported within the window.
 *   <li>False / {@value #NO_REVISION}: no spec has been accepted yet, so there is nothing to enforce.
 *   <li>Unknown / {@value Acceptance#STORE_UNAVAILABLE}: Redis could not be read.
 * </ul>
 */
public final class Enforcement {
  public static final String SYNCED = "SidecarsSynced";
  public static final String SIDECARS_BEHIND = "SidecarsBehind";
  public static final String NO_SIDECARS = "NoSidecars";
  public static final String NO_REVISION = "NoRevision";
  /** How many lagging sidecars the message names. */
  static final int NAMED_LAGGARDS = 5;

  /** What the heartbeats say: the counts for {@code status.sidecars} and the condition. */
  public record Report(SidecarCounts sidecars, ConditionState condition) {}

  private Enforcement() {}

  public static Report evaluate(List<Heartbeat> heartbeats, String currentRevision, long nowMs, Duration liveness) {
    long oldest = nowMs - liveness.toMillis();
    List<Heartbeat> live = heartbeats.stream()
        .filter(h -> h.lastSeenMs() >= oldest)
        .sorted(Comparator.comparing(Heartbeat::sidecarId))
        .toList();
    int synced = (int) live.stream().filter(h -> currentRevision != null && currentRevision.equals(h.revision())).count();
    SidecarCounts counts = new SidecarCounts(live.size(), synced);
    if (currentRevision == null) {
      return new Report(counts, ConditionState.isFalse(NO_REVISION,
          "no revision has been accepted yet, so sidecars have nothing to enforce (see condition Accepted)"));
    }
    if (live.isEmpty()) {
      return new Report(counts, ConditionState.isFalse(NO_SIDECARS, "no sidecar has reported in the last "
          + liveness.toSeconds() + "s; label pods ratekeeper.dev/inject: \"true\" to put them under this policy"));
    }
    String ratio = synced + "/" + live.size() + " sidecars enforce revision " + currentRevision;
    if (synced == live.size()) {
      return new Report(counts, ConditionState.isTrue(SYNCED, ratio));
    }
    List<Heartbeat> behind = live.stream().filter(h -> !currentRevision.equals(h.revision())).toList();
    String named = behind.stream().limit(NAMED_LAGGARDS)
        .map(h -> h.sidecarId() + " (" + (h.revision() == null ? "no revision reported" : "revision " + h.revision()) + ")")
        .collect(Collectors.joining(", "));
    if (behind.size() > NAMED_LAGGARDS) {
      named += " and " + (behind.size() - NAMED_LAGGARDS) + " more";
    }
    return new Report(counts, ConditionState.isFalse(SIDECARS_BEHIND, ratio + "; behind: " + named));
  }
}
