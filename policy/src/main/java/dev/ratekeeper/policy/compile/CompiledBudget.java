package dev.ratekeeper.policy.compile;

import dev.ratekeeper.policy.api.BudgetPeriod;

/** A budget in integer micro-dollars per UTC calendar period. */
public record CompiledBudget(long microUsd, BudgetPeriod period) {}
