package dev.ratekeeper.operator.webhook.inject;

/** How the sidecar joins the pod. */
public enum SidecarMode {
  /**
   * An init container with {@code restartPolicy: Always} (Kubernetes 1.29 and later): it starts
   * before the app containers, which wait for its startup probe, and it stops after them, so Jobs
   * still complete.
   */
  Native,
  /**
   * A regular container appended to {@code spec.containers}, for clusters older than 1.29. No start
   * order: the app may start before the proxy listens (the provider SDKs retry connection errors),
   * and a Job's pod does not complete while the sidecar runs.
   */
  Container
}
