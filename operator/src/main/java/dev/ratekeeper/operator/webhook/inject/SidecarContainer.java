package dev.ratekeeper.operator.webhook.inject;

import dev.ratekeeper.cli.SidecarEnvironment;
import dev.ratekeeper.operator.webhook.inject.InjectionContext.UpstreamView;
import dev.ratekeeper.policy.compile.PolicyId;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.ProbeBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.SecurityContextBuilder;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The sidecar container and its scratch volume, built from the settings and the chosen policy. */
final class SidecarContainer {
  static final String NAME = "ratekeeper-sidecar";
  static final int PROXY_PORT = 8787;
  static final int ADMIN_PORT = 9787;
  static final String ADMIN_PORT_NAME = "rk-admin";
  /** An emptyDir at /tmp: the root filesystem is read-only, the JVM and Netty still want a scratch dir. */
  static final String TMP_VOLUME = "ratekeeper-tmp";
  static final String REDIS_CA_VOLUME = "ratekeeper-redis-ca";
  static final String REDIS_CLIENT_VOLUME = "ratekeeper-redis-client";
  static final long NON_ROOT_UID = 65532L;

  private SidecarContainer() {}

  static Container build(InjectionSettings settings, PolicyId policy, List<UpstreamView> upstreams) {
    ContainerBuilder b = new ContainerBuilder()
        .withName(NAME)
        .withImage(settings.image())
        .withImagePullPolicy(settings.imagePullPolicy())
        .withArgs(SidecarEnvironment.POLICY.flag(), policy.toString())
        .withEnv(env(settings, upstreams))
        .addNewPort().withName(ADMIN_PORT_NAME).withContainerPort(ADMIN_PORT).withProtocol("TCP").endPort()
        .withResources(resources(settings))
        .withStartupProbe(probe("/readyz", 1, 120))
        .withReadinessProbe(probe("/readyz", 5, 3))
        .withLivenessProbe(probe("/healthz", 10, 3))
        .withSecurityContext(securityContext())
        .addNewVolumeMount().withName(TMP_VOLUME).withMountPath("/tmp").endVolumeMount()
        .addAllToVolumeMounts(settings.redisAccess().caConfigMap() == null ? List.of() : List.of(new VolumeMountBuilder()
            .withName(REDIS_CA_VOLUME).withMountPath(InjectionSettings.RedisAccess.CA_MOUNT).withReadOnly(true).build()))
        .addAllToVolumeMounts(settings.redisAccess().clientCertSecret() == null ? List.of() : List.of(
            new VolumeMountBuilder().withName(REDIS_CLIENT_VOLUME)
                .withMountPath(InjectionSettings.RedisAccess.CLIENT_CERT_MOUNT).withReadOnly(true).build()))
        .withTerminationMessagePolicy("FallbackToLogsOnError");
    if (settings.mode() == SidecarMode.Native) {
      b.withRestartPolicy("Always");
    }
    return b.build();
  }

  /**
   * The CA ConfigMap's volume, when sidecars check Redis' certificate against a CA of their own, and
   * the client certificate Secret's, when Redis asks for one.
   */
  static List<Volume> redisVolumes(InjectionSettings settings) {
    List<Volume> volumes = new ArrayList<>();
    String configMap = settings.redisAccess().caConfigMap();
    if (configMap != null) {
      volumes.add(new VolumeBuilder().withName(REDIS_CA_VOLUME).withNewConfigMap().withName(configMap).endConfigMap()
          .build());
    }
    String clientSecret = settings.redisAccess().clientCertSecret();
    if (clientSecret != null) {
      volumes.add(new VolumeBuilder().withName(REDIS_CLIENT_VOLUME).withNewSecret().withSecretName(clientSecret)
          .endSecret().build());
    }
    return volumes;
  }

  static Volume tmpVolume() {
    return new VolumeBuilder().withName(TMP_VOLUME)
        .withNewEmptyDir().withSizeLimit(new Quantity("32Mi")).endEmptyDir().build();
  }

  private static List<EnvVar> env(InjectionSettings settings, List<UpstreamView> upstreams) {
    List<EnvVar> env = new ArrayList<>();
    // every name here is one the sidecar reads: SidecarEnvironment is the contract between the two
    env.add(new EnvVar(SidecarEnvironment.REDIS_URL, settings.redisUrl(), null));
    InjectionSettings.RedisAccess access = settings.redisAccess();
    if (access.mode() != null) {
      env.add(new EnvVar(SidecarEnvironment.REDIS_MODE, access.mode(), null));
    }
    if (access.masterName() != null) {
      env.add(new EnvVar(SidecarEnvironment.REDIS_MASTER_NAME, access.masterName(), null));
    }
    if (access.userSecret() != null) {
      env.add(new EnvVarBuilder().withName(SidecarEnvironment.REDIS_USER).withNewValueFrom().withNewSecretKeyRef()
          .withName(access.userSecret().name()).withKey(access.userSecret().key())
          .endSecretKeyRef().endValueFrom().build());
    }
    if (settings.redisPasswordSecret() != null) {
      env.add(new EnvVarBuilder().withName(SidecarEnvironment.REDIS_PASSWORD).withNewValueFrom().withNewSecretKeyRef()
          .withName(settings.redisPasswordSecret().name()).withKey(settings.redisPasswordSecret().key())
          .endSecretKeyRef().endValueFrom().build());
    }
    if (access.caConfigMap() != null) {
      env.add(new EnvVar(SidecarEnvironment.REDIS_CA_FILE, InjectionSettings.RedisAccess.CA_MOUNT + "/"
          + access.caKey(), null));
    }
    if (access.clientCertSecret() != null) {
      env.add(new EnvVar(SidecarEnvironment.REDIS_CERT_FILE, InjectionSettings.RedisAccess.CLIENT_CERT_MOUNT
          + "/tls.crt", null));
      env.add(new EnvVar(SidecarEnvironment.REDIS_KEY_FILE, InjectionSettings.RedisAccess.CLIENT_CERT_MOUNT
          + "/tls.key", null));
    }
    if (!access.verifyHostname()) {
      env.add(new EnvVar(SidecarEnvironment.REDIS_VERIFY_HOSTNAME, "false", null));
    }
    env.add(new EnvVarBuilder().withName(SidecarEnvironment.POD_NAME).withNewValueFrom().withNewFieldRef()
        .withApiVersion("v1").withFieldPath("metadata.name").endFieldRef().endValueFrom().build());
    // the sidecar's admin port defaults to loopback; the kubelet's probes and Prometheus reach it on the
    // pod IP, so that is where the injected sidecar listens (never 0.0.0.0: not on other interfaces)
    env.add(new EnvVarBuilder().withName(SidecarEnvironment.POD_IP).withNewValueFrom().withNewFieldRef()
        .withApiVersion("v1").withFieldPath("status.podIP").endFieldRef().endValueFrom().build());
    env.add(new EnvVar(SidecarEnvironment.ADMIN_LISTEN.env(), "$(POD_IP):" + ADMIN_PORT, null));
    for (UpstreamView upstream : upstreams) {
      if (upstream.hasCredentials()) {
        env.add(new EnvVarBuilder().withName(SidecarEnvironment.upstreamKeyVariable(upstream.name())).withNewValueFrom()
            .withNewSecretKeyRef().withName(upstream.secretName()).withKey(upstream.secretKey()).endSecretKeyRef()
            .endValueFrom().build());
      }
    }
    if (settings.javaOptions() != null && !settings.javaOptions().isBlank()) {
      env.add(new EnvVar("JAVA_TOOL_OPTIONS", settings.javaOptions(), null));
    }
    return env;
  }

  private static ResourceRequirements resources(InjectionSettings settings) {
    Map<String, Quantity> requests = new LinkedHashMap<>();
    Map<String, Quantity> limits = new LinkedHashMap<>();
    put(requests, "cpu", settings.cpuRequest());
    put(requests, "memory", settings.memoryRequest());
    put(limits, "cpu", settings.cpuLimit());
    put(limits, "memory", settings.memoryLimit());
    ResourceRequirements r = new ResourceRequirements();
    r.setRequests(requests);
    r.setLimits(limits);
    return r;
  }

  private static void put(Map<String, Quantity> map, String resource, String value) {
    if (value != null && !value.isBlank()) {
      map.put(resource, new Quantity(value));
    }
  }

  private static Probe probe(String path, int periodSeconds, int failureThreshold) {
    return new ProbeBuilder().withNewHttpGet().withPath(path).withPort(new IntOrString(ADMIN_PORT)).endHttpGet()
        .withPeriodSeconds(periodSeconds).withFailureThreshold(failureThreshold).withTimeoutSeconds(1).build();
  }

  private static SecurityContext securityContext() {
    return new SecurityContextBuilder()
        .withRunAsNonRoot(true)
        .withRunAsUser(NON_ROOT_UID)
        .withRunAsGroup(NON_ROOT_UID)
        .withAllowPrivilegeEscalation(false)
        .withReadOnlyRootFilesystem(true)
        .withNewCapabilities().withDrop("ALL").endCapabilities()
        .withNewSeccompProfile().withType("RuntimeDefault").endSeccompProfile()
        .build();
  }
}
