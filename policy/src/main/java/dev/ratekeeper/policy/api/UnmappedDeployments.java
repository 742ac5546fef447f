package dev.ratekeeper.policy.api;

/** What an {@code azure-openai} upstream does with a call to a deployment its {@code deployments} do not list. */
public enum UnmappedDeployments {
  /** Refuse it (404 in Azure's error shape, code DeploymentNotMapped), never forwarded. The default. */
  Refuse,
  /** Take the deployment's name as the model's name (for deployments named after their model). */
  DeploymentNameIsModel
}
