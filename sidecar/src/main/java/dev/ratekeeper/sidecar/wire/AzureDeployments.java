package dev.ratekeeper.sidecar.wire;

import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.policy.compile.CompiledUpstream;

/**
 * Which Azure OpenAI deployment a call goes to, and so which model governs it. On
 * {@code /openai/deployments/{deployment}/...} the deployment is the path's; on the paths without
 * one ({@code /openai/responses}, {@code /openai/v1/...}) Azure reads it from the body's
 * {@code model}. The upstream's {@code deployments} map names the model; an unlisted deployment is
 * refused unless the policy says deployment names are models.
 */
public final class AzureDeployments {
  /** The start of Azure's deployment-scoped paths, upstream-relative. */
  public static final String DEPLOYMENTS_PREFIX = "/openai/deployments/";

  private AzureDeployments() {}

  /**
   * Where a metered call goes: its upstream and canonical upstream-relative path (no query).
   * {@code pathDeployment} is the deployment the path names, or null.
   */
  public record Target(CompiledUpstream upstream, String pathDeployment) {
    /** A call on {@code path} (canonical, upstream-relative, no query) through {@code upstream}. */
    public static Target of(CompiledUpstream upstream, String path) {
      return new Target(upstream, upstream.format() == UpstreamFormat.AZURE_OPENAI ? fromPath(path) : null);
    }

    public boolean azure() {
      return upstream.format() == UpstreamFormat.AZURE_OPENAI;
    }
  }

  /** The deployment of {@code /openai/deployments/{deployment}/...}, or null on other paths. */
  static String fromPath(String path) {
    if (!path.startsWith(DEPLOYMENTS_PREFIX)) {
      return null;
    }
    int end = path.indexOf('/', DEPLOYMENTS_PREFIX.length());
    String deployment = end < 0 ? path.substring(DEPLOYMENTS_PREFIX.length())
        : path.substring(DEPLOYMENTS_PREFIX.length(), end);
    return deployment.isEmpty() ? null : deployment;
  }

  /** The 404 for a deployment the policy does not map, in Azure's error shape (its code says why). */
  static ProviderError notMapped(CompiledUpstream upstream, String deployment) {
    return ProviderError.of(ProviderError.Kind.DEPLOYMENT_NOT_MAPPED, "Azure OpenAI deployment \""
        + quote(deployment) + "\" is not mapped to a model in upstream \"" + upstream.name()
        + "\" of the Ratekeeper policy, so its quotas and prices are unknown; add it to the upstream's deployments"
        + " (or set unmappedDeployments: DeploymentNameIsModel)");
  }

  private static String quote(String name) {
    return name.length() <= 100 ? name : name.substring(0, 100) + "…";
  }
}
