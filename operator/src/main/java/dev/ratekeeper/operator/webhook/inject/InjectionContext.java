package dev.ratekeeper.operator.webhook.inject;

import dev.ratekeeper.operator.api.RateLimitPolicy;
import dev.ratekeeper.policy.api.Upstream;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * What the injector needs to know about the cluster, looked up by the webhook server before it
 * calls the (pure) injector: the RateLimitPolicies of the pod's namespace, and the keys of the
 * ConfigMaps and Secrets that the pod's containers import with {@code envFrom}.
 *
 * @param namespace the pod's namespace
 * @param policies every RateLimitPolicy in it, sorted by name
 * @param envSourceKeys keys of the envFrom sources that exist and could be read
 * @param absentEnvSources envFrom sources that do not exist; a source in neither is unknown
 */
public record InjectionContext(
    String namespace,
    List<PolicyView> policies,
    Map<EnvSource, Set<String>> envSourceKeys,
    Set<EnvSource> absentEnvSources) {

  /** What the injector uses of one RateLimitPolicy. */
  public record PolicyView(String name, List<UpstreamView> upstreams) {
    public PolicyView {
      Objects.requireNonNull(name, "name");
      upstreams = upstreams == null ? List.of() : List.copyOf(upstreams);
    }
  }

  /**
   * One upstream of a policy: its route name, wire format ({@code anthropic} or {@code openai}) and
   * the Secret key holding its provider key (both null when the app brings its own key).
   */
  public record UpstreamView(String name, String format, String secretName, String secretKey) {
    public boolean hasCredentials() {
      return secretName != null && secretKey != null;
    }
  }

  /** A ConfigMap or Secret named by an {@code envFrom} entry. */
  public record EnvSource(Kind kind, String name) {
    /** The kind of object an envFrom entry imports. */
    public enum Kind { ConfigMap, Secret }

    @Override
    public String toString() {
      return kind + " " + name;
    }
  }

  public InjectionContext {
    Objects.requireNonNull(namespace, "namespace");
    policies = policies.stream().sorted(Comparator.comparing(PolicyView::name)).toList();
    envSourceKeys = Map.copyOf(envSourceKeys);
    absentEnvSources = Set.copyOf(absentEnvSources);
  }

  /** A context with only policies: every envFrom source is unknown. */
  public static InjectionContext of(String namespace, List<PolicyView> policies) {
    return new InjectionContext(namespace, policies, Map.of(), Set.of());
  }

  /** The views of RateLimitPolicy objects as the API server lists them. */
  public static List<PolicyView> viewsOf(Collection<RateLimitPolicy> policies) {
    return policies.stream().map(InjectionContext::viewOf).toList();
  }

  static PolicyView viewOf(RateLimitPolicy policy) {
    List<Upstream> upstreams = policy.getSpec() == null || policy.getSpec().upstreams == null
        ? List.of() : policy.getSpec().upstreams;
    return new PolicyView(policy.getMetadata().getName(), upstreams.stream()
        .filter(u -> u != null && u.name != null)
        .map(u -> new UpstreamView(u.name, u.format == null ? null : u.format.wireName(),
            u.credentialsSecretRef == null ? null : u.credentialsSecretRef.name,
            u.credentialsSecretRef == null ? null : u.credentialsSecretRef.key))
        .toList());
  }

  /** The policy of that name, if the namespace has it. */
  public Optional<PolicyView> policy(String name) {
    return policies.stream().filter(p -> p.name().equals(name)).findFirst();
  }
}
