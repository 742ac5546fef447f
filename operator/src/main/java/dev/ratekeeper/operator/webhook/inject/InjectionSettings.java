package dev.ratekeeper.operator.webhook.inject;

import java.util.Objects;

/**
 * What the cluster operator configures about injected sidecars (see docs/webhook.md for the
 * environment variables). Everything else about the sidecar container is fixed by the injector.
 *
 * @param image sidecar image
 * @param imagePullPolicy {@code IfNotPresent}, {@code Always} or {@code Never}
 * @param mode native sidecar (init container) or a regular container
 * @param onMissingPolicy refuse or admit uninjected when no single policy can be chosen
 * @param redisUrl {@code RATEKEEPER_REDIS_URL} of every sidecar; no password in it
 * @param redisPasswordSecret Secret (in the pod's namespace) and key of the Redis password, or null
 * @param cpuRequest sidecar CPU request, or null for none
 * @param memoryRequest sidecar memory request, or null for none
 * @param cpuLimit sidecar CPU limit, or null for none
 * @param memoryLimit sidecar memory limit, or null for none
 * @param javaOptions {@code JAVA_TOOL_OPTIONS} of the sidecar's JVM, or null for none
 * @param gatewayUrl the shared gateway's in-cluster URL, for pods labelled {@code ratekeeper.dev/inject: "gateway"};
 *     null when no gateway is installed
 * @param redisAccess how sidecars reach a Redis beyond one plain node: topology, ACL user, CA
 */
public record InjectionSettings(
    String image,
    String imagePullPolicy,
    SidecarMode mode,
    MissingPolicyAction onMissingPolicy,
    String redisUrl,
    SecretKey redisPasswordSecret,
    String cpuRequest,
    String memoryRequest,
    String cpuLimit,
    String memoryLimit,
    String javaOptions,
    RedisAccess redisAccess,
    String gatewayUrl) {

  public static final String DEFAULT_IMAGE = "ghcr.io/ratekeeper/ratekeeper-sidecar:0.1.0";
  public static final String DEFAULT_PULL_POLICY = "IfNotPresent";
  public static final String DEFAULT_CPU_REQUEST = "50m";
  public static final String DEFAULT_MEMORY_REQUEST = "96Mi";
  public static final String DEFAULT_MEMORY_LIMIT = "192Mi";
  /**
   * Serial GC, C1-only JIT with a small code cache (docs/benchmarks.md: C2's compiler and code
   * cache cost more memory than a sidecar should) and small thread stacks for a one-core proxy; the heap may take 60% of the memory
   * limit, leaving the rest for metaspace, code cache, threads and Netty's direct buffers; no
   * perf-data file, since the root filesystem is read-only.
   */
  public static final String DEFAULT_JAVA_OPTIONS =
      "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=16m -Xss256k -XX:MaxRAMPercentage=60 -XX:-UsePerfData";

  /** A key of a Secret. */
  public record SecretKey(String name, String key) {
    public SecretKey {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(key, "key");
    }
  }

  /**
   * How sidecars reach Redis beyond a URL and a password (docs/webhook.md):
   *
   * @param mode {@code RATEKEEPER_REDIS_MODE} ({@code cluster}, {@code sentinel}), or null for one node
   * @param masterName {@code RATEKEEPER_REDIS_MASTER_NAME} (Sentinel), or null
   * @param userSecret Secret (in the pod's namespace) and key of the Redis ACL user name, or null for
   *     the default user; with per-tenant users it is the operator-made Secret with {@code user}
   * @param caConfigMap ConfigMap (in the pod's namespace) with the CA certificate Redis' certificates
   *     are checked against, mounted read-only; null: the JVM's trust store
   * @param caKey the ConfigMap's key holding the CA certificate
   * @param verifyHostname false: {@code RATEKEEPER_REDIS_VERIFY_HOSTNAME=false}
   * @param clientCertSecret a {@code kubernetes.io/tls} Secret (in the pod's namespace) with the client
   *     certificate a Redis with {@code tls-auth-clients} asks for, mounted read-only; null for none
   */
  public record RedisAccess(String mode, String masterName, SecretKey userSecret, String caConfigMap, String caKey,
      boolean verifyHostname, String clientCertSecret) {
    /** One plain node (or a URL that says everything). */
    public static final RedisAccess PLAIN = new RedisAccess(null, null, null, null, null, true, null);
    /** Where the CA ConfigMap is mounted in the sidecar. */
    public static final String CA_MOUNT = "/etc/ratekeeper/redis-ca";
    /** Where the client certificate's Secret is mounted in the sidecar ({@code tls.crt}, {@code tls.key}). */
    public static final String CLIENT_CERT_MOUNT = "/etc/ratekeeper/redis-client";

    public RedisAccess {
      if (caConfigMap != null) {
        Objects.requireNonNull(caKey, "caKey");
      }
    }
  }

  /** Without {@link RedisAccess} (one plain node) and without a shared gateway. */
  public InjectionSettings(String image, String imagePullPolicy, SidecarMode mode, MissingPolicyAction onMissingPolicy,
      String redisUrl, SecretKey redisPasswordSecret, String cpuRequest, String memoryRequest, String cpuLimit,
      String memoryLimit, String javaOptions) {
    this(image, imagePullPolicy, mode, onMissingPolicy, redisUrl, redisPasswordSecret, cpuRequest, memoryRequest,
        cpuLimit, memoryLimit, javaOptions, RedisAccess.PLAIN, null);
  }

  public InjectionSettings {
    Objects.requireNonNull(redisAccess, "redisAccess");
    Objects.requireNonNull(image, "image");
    Objects.requireNonNull(imagePullPolicy, "imagePullPolicy");
    Objects.requireNonNull(mode, "mode");
    Objects.requireNonNull(onMissingPolicy, "onMissingPolicy");
    Objects.requireNonNull(redisUrl, "redisUrl");
  }

  /** The defaults, with the Redis URL every sidecar uses. */
  public static InjectionSettings defaults(String redisUrl) {
    return new InjectionSettings(DEFAULT_IMAGE, DEFAULT_PULL_POLICY, SidecarMode.Native, MissingPolicyAction.Refuse,
        redisUrl, null, DEFAULT_CPU_REQUEST, DEFAULT_MEMORY_REQUEST, null, DEFAULT_MEMORY_LIMIT, DEFAULT_JAVA_OPTIONS);
  }

  public InjectionSettings withMode(SidecarMode newMode) {
    return new InjectionSettings(image, imagePullPolicy, newMode, onMissingPolicy, redisUrl, redisPasswordSecret,
        cpuRequest, memoryRequest, cpuLimit, memoryLimit, javaOptions, redisAccess, gatewayUrl);
  }

  public InjectionSettings withOnMissingPolicy(MissingPolicyAction action) {
    return new InjectionSettings(image, imagePullPolicy, mode, action, redisUrl, redisPasswordSecret,
        cpuRequest, memoryRequest, cpuLimit, memoryLimit, javaOptions, redisAccess, gatewayUrl);
  }

  public InjectionSettings withRedisPasswordSecret(SecretKey secret) {
    return new InjectionSettings(image, imagePullPolicy, mode, onMissingPolicy, redisUrl, secret,
        cpuRequest, memoryRequest, cpuLimit, memoryLimit, javaOptions, redisAccess, gatewayUrl);
  }

  public InjectionSettings withImage(String newImage) {
    return new InjectionSettings(newImage, imagePullPolicy, mode, onMissingPolicy, redisUrl, redisPasswordSecret,
        cpuRequest, memoryRequest, cpuLimit, memoryLimit, javaOptions, redisAccess, gatewayUrl);
  }

  public InjectionSettings withGatewayUrl(String url) {
    return new InjectionSettings(image, imagePullPolicy, mode, onMissingPolicy, redisUrl, redisPasswordSecret,
        cpuRequest, memoryRequest, cpuLimit, memoryLimit, javaOptions, redisAccess, url);
  }

  public InjectionSettings withRedisAccess(RedisAccess access) {
    return new InjectionSettings(image, imagePullPolicy, mode, onMissingPolicy, redisUrl, redisPasswordSecret,
        cpuRequest, memoryRequest, cpuLimit, memoryLimit, javaOptions, access, gatewayUrl);
  }
}
