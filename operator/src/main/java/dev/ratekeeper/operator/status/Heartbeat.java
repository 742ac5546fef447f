package dev.ratekeeper.operator.status;

/**
 * A sidecar's last heartbeat as read from Redis: its id, when it last reported (ms since the
 * epoch, Redis time) and the revision it said it enforces ({@code null} when its short-lived
 * revision key has already expired).
 */
public record Heartbeat(String sidecarId, long lastSeenMs, String revision) {}
