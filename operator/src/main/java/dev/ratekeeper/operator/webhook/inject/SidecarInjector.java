package dev.ratekeeper.operator.webhook.inject;

import dev.ratekeeper.operator.webhook.inject.InjectionContext.EnvSource;
import dev.ratekeeper.operator.webhook.inject.InjectionContext.PolicyView;
import dev.ratekeeper.operator.webhook.inject.InjectionOutcome.Injected;
import dev.ratekeeper.operator.webhook.inject.InjectionOutcome.Refused;
import dev.ratekeeper.operator.webhook.inject.InjectionOutcome.SkipReason;
import dev.ratekeeper.operator.webhook.inject.InjectionOutcome.Skipped;
import dev.ratekeeper.policy.compile.PolicyId;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Adds the Ratekeeper sidecar to an opted-in pod. A pure function of the pod, the
 * {@link InjectionContext} (what the webhook server looked up) and the {@link InjectionSettings}:
 * no I/O, no clock, the input pod is never modified, and injecting an injected pod changes nothing.
 *
 * <p>A pod is opted in by the label {@code ratekeeper.dev/inject: "true"}. Its policy is the one
 * named by the annotation {@code ratekeeper.dev/policy}, else the namespace's only one. The
 * sidecar is a native sidecar (first init container, {@code restartPolicy: Always}, startup
 * probe) or, in {@link SidecarMode#Container} mode, the last container. The app containers (the
 * regular ones, not init containers) get {@code ANTHROPIC_BASE_URL} and {@code OPENAI_BASE_URL}
 * unless they define them. Provider keys go into the sidecar only.
 *
 * <p>A pod labelled {@code ratekeeper.dev/inject: "gateway"} uses the shared gateway instead: no
 * container is added, the base URLs point at the gateway (its URL from the annotation
 * {@code ratekeeper.dev/gateway-url}, else the settings), and no policy is chosen (the gateway
 * enforces its own).
 */
public final class SidecarInjector {
  public static final String INJECT_LABEL = "ratekeeper.dev/inject";
  public static final String POLICY_ANNOTATION = "ratekeeper.dev/policy";
  public static final String STATUS_ANNOTATION = "ratekeeper.dev/status";
  /** The inject label's value that asks for the shared gateway instead of a sidecar. */
  public static final String GATEWAY = "gateway";
  public static final String GATEWAY_URL_ANNOTATION = "ratekeeper.dev/gateway-url";
  private static final java.util.regex.Pattern GATEWAY_URL =
      java.util.regex.Pattern.compile("^https?://[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[-A-Za-z0-9._~/]*)?$");
  public static final String SIDECAR_NAME = SidecarContainer.NAME;

  private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

  private final InjectionSettings settings;

  public SidecarInjector(InjectionSettings settings) {
    this.settings = Objects.requireNonNull(settings, "settings");
  }

  public InjectionSettings settings() {
    return settings;
  }

  /** Injects the sidecar into a copy of {@code original}, or says why not. */
  public InjectionOutcome inject(Pod original, InjectionContext ctx) {
    Optional<SkipReason> skip = precheck(original);
    if (skip.isPresent()) {
      return new Skipped(skip.get(), skip.get() == SkipReason.NotOptedIn
          ? "no label " + INJECT_LABEL + ": \"true\" or \"" + GATEWAY + "\"" : "already injected", List.of());
    }
    if (GATEWAY.equals(original.getMetadata().getLabels().get(INJECT_LABEL))) {
      return toGateway(original, ctx);
    }
    PolicySelection.Result selection = PolicySelection.choose(original, ctx);
    if (selection instanceof PolicySelection.Problem problem) {
      String message = "the pod opts in to rate limits (label " + INJECT_LABEL + "), but " + problem.message();
      return settings.onMissingPolicy() == MissingPolicyAction.Refuse
          ? new Refused(message)
          : new Skipped(SkipReason.NoPolicy, message, List.of("ratekeeper sidecar not injected: " + problem.message()));
    }
    PolicyView policy = ((PolicySelection.Chosen) selection).policy();
    PolicyId policyId = new PolicyId(ctx.namespace(), policy.name());

    Pod pod = SERIALIZATION.clone(original);
    if (pod.getSpec() == null) {
      pod.setSpec(new PodSpec());
    }
    PodSpec spec = pod.getSpec();
    List<Container> apps = spec.getContainers() == null ? new ArrayList<>() : new ArrayList<>(spec.getContainers());
    BaseUrlEnv.Result env = BaseUrlEnv.apply(apps, policy, ctx);

    Container sidecar = SidecarContainer.build(settings, policyId, policy.upstreams());
    if (settings.mode() == SidecarMode.Native) {
      List<Container> inits = new ArrayList<>();
      inits.add(sidecar);
      if (spec.getInitContainers() != null) {
        inits.addAll(spec.getInitContainers());
      }
      spec.setInitContainers(inits);
    } else {
      apps.add(sidecar);
    }
    spec.setContainers(apps);
    List<Volume> volumes = spec.getVolumes() == null ? new ArrayList<>() : new ArrayList<>(spec.getVolumes());
    volumes.add(SidecarContainer.tmpVolume());
    volumes.addAll(SidecarContainer.redisVolumes(settings));
    spec.setVolumes(volumes);

    ObjectMeta meta = pod.getMetadata();
    Map<String, String> annotations = meta.getAnnotations() == null
        ? new LinkedHashMap<>() : new LinkedHashMap<>(meta.getAnnotations());
    annotations.put(STATUS_ANNOTATION,
        new InjectionStatus(policyId.toString(), settings.mode(), settings.image(), env.addedByContainer()).toJson());
    meta.setAnnotations(annotations);
    return new Injected(pod, policyId, env.warnings());
  }

  /** Whether {@code url} can be a gateway's: {@code http(s)://host[:port][/path]}, nothing else. */
  public static boolean isGatewayUrl(String url) {
    return url != null && GATEWAY_URL.matcher(url).matches();
  }

  /** Points the app containers' SDKs at the shared gateway; no container is added. */
  private InjectionOutcome toGateway(Pod original, InjectionContext ctx) {
    Map<String, String> annotations = original.getMetadata().getAnnotations();
    String named = annotations == null ? null : annotations.get(GATEWAY_URL_ANNOTATION);
    String url = named != null && !named.isBlank() ? named.strip() : settings.gatewayUrl();
    if (url == null || url.isBlank()) {
      String problem = "no shared gateway is installed (chart value gateway.enabled) and the pod names none in the"
          + " annotation " + GATEWAY_URL_ANNOTATION;
      String message = "the pod opts in to the shared gateway (label " + INJECT_LABEL + ": \"" + GATEWAY + "\"), but "
          + problem;
      return settings.onMissingPolicy() == MissingPolicyAction.Refuse ? new Refused(message)
          : new Skipped(SkipReason.NoGateway, message, List.of("ratekeeper gateway not configured: " + problem));
    }
    if (!isGatewayUrl(url)) {
      return new Refused("annotation " + GATEWAY_URL_ANNOTATION + ": expected http(s)://host[:port][/path], got \""
          + url + "\"");
    }
    url = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
    Pod pod = SERIALIZATION.clone(original);
    if (pod.getSpec() == null) {
      pod.setSpec(new PodSpec());
    }
    List<Container> apps = pod.getSpec().getContainers() == null ? new ArrayList<>()
        : new ArrayList<>(pod.getSpec().getContainers());
    BaseUrlEnv.Result env = BaseUrlEnv.apply(apps, BaseUrlEnv.gatewayValues(url), "the gateway", ctx);
    pod.getSpec().setContainers(apps);
    ObjectMeta meta = pod.getMetadata();
    Map<String, String> newAnnotations = meta.getAnnotations() == null
        ? new LinkedHashMap<>() : new LinkedHashMap<>(meta.getAnnotations());
    newAnnotations.put(STATUS_ANNOTATION, InjectionStatus.gatewayJson(url, env.addedByContainer()));
    meta.setAnnotations(newAnnotations);
    return new Injected(pod, null, env.warnings());
  }

  /**
   * Why a pod needs no injection, seen from the pod alone: not opted in, or already injected
   * (the status annotation, or a container or init container named {@code ratekeeper-sidecar}).
   */
  public static Optional<SkipReason> precheck(Pod pod) {
    ObjectMeta meta = pod.getMetadata();
    Map<String, String> labels = meta == null ? null : meta.getLabels();
    if (labels == null || !("true".equals(labels.get(INJECT_LABEL)) || GATEWAY.equals(labels.get(INJECT_LABEL)))) {
      return Optional.of(SkipReason.NotOptedIn);
    }
    if (meta.getAnnotations() != null && meta.getAnnotations().containsKey(STATUS_ANNOTATION)) {
      return Optional.of(SkipReason.AlreadyInjected);
    }
    if (allContainers(pod).anyMatch(c -> SIDECAR_NAME.equals(c.getName()))) {
      return Optional.of(SkipReason.AlreadyInjected);
    }
    return Optional.empty();
  }

  /** The ConfigMaps and Secrets the pod's app containers import with envFrom: what to look up. */
  public static Set<EnvSource> envSources(Pod pod) {
    Set<EnvSource> sources = new LinkedHashSet<>();
    if (pod.getSpec() != null && pod.getSpec().getContainers() != null) {
      for (Container c : pod.getSpec().getContainers()) {
        if (c.getEnvFrom() != null) {
          c.getEnvFrom().stream().map(BaseUrlEnv::sourceOf).filter(Objects::nonNull).forEach(sources::add);
        }
      }
    }
    return sources;
  }

  private static Stream<Container> allContainers(Pod pod) {
    PodSpec spec = pod.getSpec();
    if (spec == null) {
      return Stream.empty();
    }
    return Stream.concat(spec.getContainers() == null ? Stream.empty() : spec.getContainers().stream(),
        spec.getInitContainers() == null ? Stream.empty() : spec.getInitContainers().stream());
  }
}
