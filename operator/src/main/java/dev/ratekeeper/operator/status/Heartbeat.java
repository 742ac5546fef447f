package dev.ratekeeper.operator.status;

/**
 * A sidecar's last heartbeat as read from Redis: its id, when it last reported (ms since the
 * epoch, Redis time), the revision it said it enforces ({@code null} when its short-lived
 * revision key has already expired), and what it runs: its build version and {@code sidecar} or
 * {@code gateway} ({@code null} when its build hash has expired, or it is older than that hash).
 */
public record Heartbeat(String sidecarId, long lastSeenMs, String revision, String version, String mode) {
  /** A heartbeat without the build hash (sidecars that predate it). */
  public Heartbeat(String sidecarId, long lastSeenMs, String revision) {
    this(sidecarId, lastSeenMs, revision, null, null);
  }
}
