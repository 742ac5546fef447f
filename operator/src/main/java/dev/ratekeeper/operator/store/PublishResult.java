package dev.ratekeeper.operator.store;

/**
 * The outcome of making a compiled revision current.
 *
 * @param revision the revision now current
 * @param previous the revision that was current before, null when none
 * @param switched whether {@code policy:current} moved (and a change message was published)
 */
public record PublishResult(String revision, String previous, boolean switched) {}
