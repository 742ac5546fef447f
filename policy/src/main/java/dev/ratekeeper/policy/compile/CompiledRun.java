package dev.ratekeeper.policy.compile;

/**
 * A tier's caps on each run, in integer units; a null cap is no cap. The counts of a run are
 * forgotten {@code idleTimeoutMs} after its last call.
 */
public record CompiledRun(Long budgetMicros, Long tokens, Long requests, long idleTimeoutMs) {}
