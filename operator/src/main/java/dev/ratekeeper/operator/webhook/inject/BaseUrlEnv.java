package dev.ratekeeper.operator.webhook.inject;

import dev.ratekeeper.operator.webhook.inject.InjectionContext.EnvSource;
import dev.ratekeeper.operator.webhook.inject.InjectionContext.PolicyView;
import dev.ratekeeper.operator.webhook.inject.InjectionContext.UpstreamView;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvFromSource;
import io.fabric8.kubernetes.api.model.EnvVar;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Points the provider SDKs of the app containers at the sidecar: {@code ANTHROPIC_BASE_URL} and
 * {@code OPENAI_BASE_URL} (and {@code AZURE_OPENAI_ENDPOINT} for a policy with an Azure OpenAI
 * upstream), unless a container defines them itself. A variable counts as defined
 * when the container's {@code env} has it, or an {@code envFrom} ConfigMap or Secret has the key
 * (after its prefix); a warning then says the pod's value was kept (unless it already is the
 * sidecar's URL). When an envFrom source could not be read, or does not exist yet and is not
 * optional, it might define the variable: the user's value must win, so the variable is left
 * unset and a warning says so. Only the regular containers are given: init containers run setup
 * work, and in Container mode the proxy is not up while they run.
 */
final class BaseUrlEnv {
  static final String ANTHROPIC_BASE_URL = "ANTHROPIC_BASE_URL";
  static final String OPENAI_BASE_URL = "OPENAI_BASE_URL";
  /** Read by the OpenAI SDKs' AzureOpenAI clients (they append /openai/...); set only for a policy with an Azure upstream. */
  static final String AZURE_OPENAI_ENDPOINT = "AZURE_OPENAI_ENDPOINT";

  /** What was added to each container (in pod order), and warnings about what was left out. */
  record Result(Map<String, List<String>> addedByContainer, List<String> warnings) {}

  /** Defined by the pod, already the sidecar's own value, not defined, or maybe defined by an unreadable source. */
  private enum Definition { Defined, Ours, Undefined, Unknown }

  private record Found(Definition definition, String where) {}

  private BaseUrlEnv() {}

  /**
   * The variables to set: the route of the policy's first upstream of each format (the policy's
   * defaults, {@code anthropic} and {@code openai}, when it lists none of that format), and
   * {@code AZURE_OPENAI_ENDPOINT} when it has an {@code azure-openai} upstream.
   */
  static Map<String, String> values(PolicyView policy) {
    Map<String, String> values = new LinkedHashMap<>();
    String base = "http://127.0.0.1:" + SidecarContainer.PROXY_PORT + "/";
    values.put(ANTHROPIC_BASE_URL, base + route(policy, "anthropic"));
    values.put(OPENAI_BASE_URL, base + route(policy, "openai") + "/v1");
    policy.upstreams().stream().filter(u -> "azure-openai".equals(u.format())).findFirst()
        .ifPresent(azure -> values.put(AZURE_OPENAI_ENDPOINT, base + azure.name()));
    return values;
  }

  private static String route(PolicyView policy, String format) {
    return policy.upstreams().stream().filter(u -> format.equals(u.format())).map(UpstreamView::name)
        .findFirst().orElse(format);
  }

  /** Adds the variables to {@code containers} (which the caller owns) where they are not defined. */
  static Result apply(List<Container> containers, PolicyView policy, InjectionContext ctx) {
    Map<String, String> values = values(policy);
    Map<String, List<String>> added = new LinkedHashMap<>();
    List<String> warnings = new ArrayList<>();
    for (Container container : containers) {
      List<String> addedHere = new ArrayList<>();
      String prefix = "container \"" + container.getName() + "\": ";
      values.forEach((name, url) -> {
        Found found = definition(container, name, url, ctx);
        switch (found.definition()) {
          case Undefined -> {
            List<EnvVar> env = container.getEnv() == null ? new ArrayList<>() : new ArrayList<>(container.getEnv());
            env.add(new EnvVar(name, url, null));
            container.setEnv(env);
            addedHere.add(name);
          }
          case Defined -> warnings.add(prefix + name + " kept as the pod sets it (" + found.where()
              + "); the sidecar is at " + url);
          case Unknown -> warnings.add(prefix + name + " not set: " + found.where()
              + " could not be read and may set it");
          case Ours -> { }
        }
      });
      added.put(container.getName(), addedHere);
    }
    return new Result(added, warnings);
  }

  private static Found definition(Container container, String name, String url, InjectionContext ctx) {
    if (container.getEnv() != null) {
      for (EnvVar e : container.getEnv()) {
        if (name.equals(e.getName())) {
          return new Found(e.getValueFrom() == null && url.equals(e.getValue()) ? Definition.Ours : Definition.Defined,
              "env");
        }
      }
    }
    if (container.getEnvFrom() == null) {
      return new Found(Definition.Undefined, null);
    }
    List<String> unreadable = new ArrayList<>();
    for (EnvFromSource from : container.getEnvFrom()) {
      String prefix = from.getPrefix() == null ? "" : from.getPrefix();
      EnvSource source = sourceOf(from);
      if (source == null || !name.startsWith(prefix)) {
        continue;
      }
      Set<String> keys = ctx.envSourceKeys().get(source);
      if (keys != null) {
        if (keys.contains(name.substring(prefix.length()))) {
          return new Found(Definition.Defined, "envFrom " + source);
        }
      } else if (!(ctx.absentEnvSources().contains(source) && optional(from))) {
        // unreadable, or absent but required: the pod starts only once it exists, maybe with the key
        unreadable.add(source.toString());
      }
    }
    return unreadable.isEmpty() ? new Found(Definition.Undefined, null)
        : new Found(Definition.Unknown, "envFrom " + String.join(", ", unreadable));
  }

  /** The ConfigMap or Secret an envFrom entry imports, or null for an entry naming neither. */
  static EnvSource sourceOf(EnvFromSource from) {
    if (from.getConfigMapRef() != null && from.getConfigMapRef().getName() != null) {
      return new EnvSource(EnvSource.Kind.ConfigMap, from.getConfigMapRef().getName());
    }
    if (from.getSecretRef() != null && from.getSecretRef().getName() != null) {
      return new EnvSource(EnvSource.Kind.Secret, from.getSecretRef().getName());
    }
    return null;
  }

  private static boolean optional(EnvFromSource from) {
    Boolean optional = from.getConfigMapRef() != null ? from.getConfigMapRef().getOptional()
        : from.getSecretRef().getOptional();
    return Boolean.TRUE.equals(optional);
  }
}
