package dev.ratekeeper.policy.api;

/** UTC calendar period of a budget. Weeks are ISO weeks starting Monday 00:00 UTC. */
public enum BudgetPeriod {
  Daily,
  Weekly,
  Monthly
}
