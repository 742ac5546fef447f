package dev.ratekeeper.e2e.cluster;

import dev.ratekeeper.operator.webhook.tls.CertificateIssuer;
import dev.ratekeeper.operator.webhook.tls.KeyAndCertificate;
import dev.ratekeeper.operator.webhook.tls.Pem;
import io.fabric8.kubeapitest.KubeAPIServer;
import io.fabric8.kubeapitest.KubeAPIServerConfig;
import io.fabric8.kubeapitest.KubeAPIServerConfigBuilder;
import io.fabric8.kubernetes.api.model.EndpointsBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.authentication.TokenRequest;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real Kubernetes control plane for the tests of this package, one per test JVM: etcd and
 * kube-apiserver started by Fabric8's kube-api-test (RBAC on, certificates of its own), and
 * kube-controller-manager beside them so that Deployments make ReplicaSets and Pods, deleted
 * namespaces are emptied and owned objects are collected. There is no kubelet: Pods are stored and
 * scheduled nowhere, which is all an admission webhook or an operator sees of them.
 *
 * <p>The binaries come from {@code e2e/control-plane/build.sh}, which builds them into the directory
 * kube-api-test reads ({@code $KUBE_API_TEST_DIR}, default {@code ~/.kubeapitest}); where they are
 * missing, kube-api-test downloads etcd, kube-apiserver and kubectl itself (with internet), and only
 * the tests that need kube-controller-manager then fail, saying to run the script.
 */
public final class ControlPlane {
  /** The release the tests run: the one e2e/control-plane/build.sh pins (e2e/pom.xml passes it). */
  public static final String VERSION = System.getProperty("ratekeeper.kubernetes.version", "1.36.3");
  static final Path LOGS = Path.of("target", "e2e-logs");
  /** The repository root, passed by Surefire as {@code ratekeeper.root}. */
  public static final Path ROOT = Path.of(System.getProperty("ratekeeper.root", ".."));
  public static final String CRD_NAME = "ratelimitpolicies.ratekeeper.dev";
  /** The checked-in CRD, as users apply it (the chart's crds/ holds the same file). */
  public static final Path CRD_FILE = ROOT.resolve("crds/" + CRD_NAME + "-v1.yml");
  public static final ResourceDefinitionContext POLICIES = new ResourceDefinitionContext.Builder()
      .withGroup("ratekeeper.dev").withVersion("v1alpha1").withKind("RateLimitPolicy").withPlural("ratelimitpolicies")
      .withNamespaced(true).build();

  private static ControlPlane shared;

  private final KubeAPIServer apiServer;
  private final String kubeconfigYaml;
  private final Path kubeconfigFile;
  private final KubernetesClient admin;
  private final Process controllerManager;
  private final Path binaries;

  /** The front-proxy client certificate's common name, the one name aggregated APIs accept. */
  public static final String FRONT_PROXY_NAME = "front-proxy-client";
  private static final Path FRONT_PROXY = frontProxyCertificates();

  /** A front-proxy CA and client certificate, as kubeadm makes them (front-proxy-ca, front-proxy-client). */
  private static Path frontProxyCertificates() {
    try {
      Path dir = Files.createTempDirectory("ratekeeper-front-proxy");
      CertificateIssuer issuer = new CertificateIssuer();
      Instant now = Instant.now();
      KeyAndCertificate ca = issuer.newCa("front-proxy-ca", now, Duration.ofDays(1));
      KeyAndCertificate client = issuer.client(ca, FRONT_PROXY_NAME, now, Duration.ofDays(1));
      Files.writeString(dir.resolve("ca.crt"), Pem.encode(ca.certificate()));
      Files.writeString(dir.resolve("client.crt"), Pem.encode(client.certificate()));
      Files.writeString(dir.resolve("client.key"), Pem.encode(client.key()));
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private ControlPlane() {
    String built = builtVersion();
    if (!VERSION.equals(built)) {
      throw new IllegalStateException("e2e/pom.xml pins Kubernetes " + VERSION + " but e2e/control-plane/build.sh builds "
          + built + ": pin one release in both");
    }
    KubeAPIServerConfig config = KubeAPIServerConfigBuilder.anAPIServerConfig()
        .withApiServerVersion(VERSION)
        .withUpdateKubeConfig(false)
        .withStartupTimeout(120_000)
        // webhooks and aggregated APIs are called at a Service's endpoint, not its ClusterIP: there is no kube-proxy
        .withApiServerFlag("--enable-aggregator-routing=true")
        // the front proxy: how the API server names the caller to aggregated APIs (kubectl ratekeeper's)
        .withApiServerFlag("--requestheader-client-ca-file=" + FRONT_PROXY.resolve("ca.crt"))
        .withApiServerFlag("--requestheader-allowed-names=" + FRONT_PROXY_NAME)
        .withApiServerFlag("--requestheader-username-headers=X-Remote-User")
        .withApiServerFlag("--requestheader-group-headers=X-Remote-Group")
        .withApiServerFlag("--requestheader-extra-headers-prefix=X-Remote-Extra-")
        .withApiServerFlag("--proxy-client-cert-file=" + FRONT_PROXY.resolve("client.crt"))
        .withApiServerFlag("--proxy-client-key-file=" + FRONT_PROXY.resolve("client.key"))
        .build();
    apiServer = new KubeAPIServer(config);
    try {
      apiServer.start();
    } catch (RuntimeException e) {
      throw new IllegalStateException("cannot start kube-apiserver " + VERSION + " (" + e.getMessage() + "): build the "
          + "control plane with e2e/control-plane/build.sh into " + binaryDirectory(config)
          + ", or let kube-api-test download it (needs internet); see docs/install.md", e);
    }
    kubeconfigYaml = apiServer.getKubeConfigYaml();
    try {
      Files.createDirectories(LOGS);
      kubeconfigFile = Files.createTempFile("ratekeeper-admin", ".kubeconfig");
      Files.writeString(kubeconfigFile, kubeconfigYaml);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    admin = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(kubeconfigYaml)).build();
    String serving = admin.getKubernetesVersion().getGitVersion();
    if (!serving.startsWith("v" + VERSION)) {
      throw new IllegalStateException("kube-apiserver reports " + serving + ", the tests pin " + VERSION);
    }
    binaries = binaryDirectory(config);
    controllerManager = startControllerManager(binaries);
  }

  /** The control plane of this JVM, started on first use and stopped when the JVM exits. */
  public static synchronized ControlPlane shared() {
    if (shared == null) {
      shared = new ControlPlane();
      ControlPlane started = shared;
      Runtime.getRuntime().addShutdownHook(new Thread(started::stop, "control-plane-stop"));
    }
    return shared;
  }

  /** The kubectl of the pinned release (beside etcd and kube-apiserver). */
  public Path kubectl() {
    return binaries.resolve("kubectl");
  }

  /** A client with cluster-admin rights (kube-api-test's client certificate, group system:masters). */
  public KubernetesClient admin() {
    return admin;
  }

  public String kubeconfigYaml() {
    return kubeconfigYaml;
  }

  public Path kubeconfigFile() {
    return kubeconfigFile;
  }

  public String masterUrl() {
    return admin.getConfiguration().getMasterUrl();
  }

  /** True when kube-controller-manager runs (it is built by the script; kube-api-test never downloads it). */
  public boolean hasControllerManager() {
    return controllerManager != null && controllerManager.isAlive();
  }

  /** Fails with what to do when kube-controller-manager is not running. */
  public void requireControllerManager() {
    if (!hasControllerManager()) {
      throw new IllegalStateException("kube-controller-manager " + VERSION + " is not running: build it with "
          + "e2e/control-plane/build.sh (see docs/install.md); its log is " + LOGS.resolve("kube-controller-manager.log"));
    }
  }

  /** Applies crds/ (server-side, as kubectl apply --server-side does) and waits until it is established. */
  public void installCrd() {
    try (InputStream in = Files.newInputStream(CRD_FILE)) {
      CustomResourceDefinition crd = admin.getKubernetesSerialization().unmarshal(in, CustomResourceDefinition.class);
      admin.apiextensions().v1().customResourceDefinitions().resource(crd).forceConflicts().serverSideApply();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    // a CRD just created may have a status without conditions yet
    admin.apiextensions().v1().customResourceDefinitions().withName(CRD_NAME).waitUntilCondition(crd ->
        crd.getStatus() != null && crd.getStatus().getConditions() != null && crd.getStatus().getConditions().stream()
            .anyMatch(c -> "Established".equals(c.getType()) && "True".equals(c.getStatus())), 30, TimeUnit.SECONDS);
  }

  /**
   * Points the Service at a process on this machine, as the endpoint controllers would point it at a
   * ready Pod: Endpoints and an EndpointSlice with this host's address (the API server refuses loopback
   * endpoints) and {@code port} under the Service's port name.
   */
  public void routeService(String namespace, String service, String portName, int port) {
    String address = hostAddress();
    admin.endpoints().inNamespace(namespace).resource(new EndpointsBuilder().withNewMetadata().withName(service)
        .withNamespace(namespace).endMetadata().addNewSubset().addNewAddress().withIp(address).endAddress()
        .addNewPort().withName(portName).withPort(port).withProtocol("TCP").endPort().endSubset().build())
        .forceConflicts().serverSideApply();
    admin.discovery().v1().endpointSlices().inNamespace(namespace).resource(new EndpointSliceBuilder()
        .withNewMetadata().withName(service + "-test").withNamespace(namespace)
        .addToLabels("kubernetes.io/service-name", service).endMetadata()
        .withAddressType("IPv4").addNewEndpoint().withAddresses(address).withNewConditions().withReady(true)
        .endConditions().endEndpoint().addNewPort().withName(portName).withPort(port).withProtocol("TCP").endPort()
        .build()).forceConflicts().serverSideApply();
  }

  /** This machine's first non-loopback IPv4 address. */
  public static String hostAddress() {
    try {
      return java.util.Collections.list(java.net.NetworkInterface.getNetworkInterfaces()).stream()
          .filter(i -> {
            try {
              return i.isUp() && !i.isLoopback();
            } catch (java.net.SocketException e) {
              return false;
            }
          })
          .flatMap(i -> java.util.Collections.list(i.getInetAddresses()).stream())
          .filter(a -> a instanceof java.net.Inet4Address && !a.isLoopbackAddress() && !a.isLinkLocalAddress())
          .map(java.net.InetAddress::getHostAddress).findFirst()
          .orElseThrow(() -> new IllegalStateException("no non-loopback IPv4 address on this machine"));
    } catch (java.net.SocketException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Creates the namespace unless it exists. */
  public void namespace(String name) {
    if (admin.namespaces().withName(name).get() == null) {
      admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(name).endMetadata().build()).create();
    }
  }

  /**
   * A token of the ServiceAccount, issued by the API server (TokenRequest), so that a client using it
   * has exactly the rights RBAC gives that account.
   */
  public String serviceAccountToken(String namespace, String serviceAccount) {
    TokenRequest request = new TokenRequestBuilder().withNewSpec().withExpirationSeconds(3600L).endSpec().build();
    return admin.serviceAccounts().inNamespace(namespace).withName(serviceAccount).tokenRequest(request)
        .getStatus().getToken();
  }

  /** A client that authenticates as the ServiceAccount with a token of its own. */
  public KubernetesClient clientAs(String namespace, String serviceAccount) {
    Config config = new ConfigBuilder(Config.empty()).withMasterUrl(masterUrl())
        .withCaCertData(caData())
        .withOauthToken(serviceAccountToken(namespace, serviceAccount)).withNamespace(namespace)
        .withRequestRetryBackoffLimit(1).build();
    return new KubernetesClientBuilder().withConfig(config).build();
  }

  /** The API server's CA certificate, base64 PEM (kube-api-test's kubeconfig names a file or embeds it). */
  private String caData() {
    Config config = admin.getConfiguration();
    if (config.getCaCertData() != null) {
      return config.getCaCertData();
    }
    try {
      return java.util.Base64.getEncoder().encodeToString(Files.readAllBytes(Path.of(config.getCaCertFile())));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A kubeconfig file for a program that runs as the ServiceAccount (for the operator's process). */
  public Path kubeconfigAs(String namespace, String serviceAccount) {
    String yaml = """
        apiVersion: v1
        kind: Config
        clusters:
        - name: test
          cluster: {server: "%s", certificate-authority-data: "%s"}
        users:
        - name: %s
          user: {token: "%s"}
        contexts:
        - name: test
          context: {cluster: test, user: %s, namespace: %s}
        current-context: test
        """.formatted(masterUrl(), caData(), serviceAccount,
        serviceAccountToken(namespace, serviceAccount), serviceAccount, namespace);
    try {
      Path file = Files.createTempFile("ratekeeper-" + serviceAccount, ".kubeconfig");
      Files.writeString(file, yaml);
      return file;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The release e2e/control-plane/build.sh builds (its KUBERNETES_VERSION). */
  static String builtVersion() {
    try {
      return Files.readAllLines(ROOT.resolve("e2e/control-plane/build.sh")).stream()
          .filter(line -> line.startsWith("KUBERNETES_VERSION=")).map(line -> line.substring(line.indexOf('=') + 1))
          .findFirst().orElse("none");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Where kube-api-test found (or downloaded) this version's binaries. */
  private static Path binaryDirectory(KubeAPIServerConfig config) {
    return Path.of(config.getKubeAPITestDir(), "k8s", VERSION + "-linux-amd64");
  }

  private Process startControllerManager(Path binaries) {
    Path binary = binaries.resolve("kube-controller-manager");
    if (!Files.isExecutable(binary)) {
      return null;
    }
    List<String> command = List.of(binary.toString(),
        "--kubeconfig=" + kubeconfigFile,
        "--leader-elect=false",
        "--secure-port=0",
        // no endpoint controllers: with no kubelet no Pod is ever ready, so tests write a Service's
        // endpoints themselves (the operator's webhook runs on this machine, not in a Pod)
        "--controllers=namespace,garbagecollector,deployment,replicaset,serviceaccount",
        "--concurrent-gc-syncs=5",
        "--v=1");
    try {
      return new ProcessBuilder(command).redirectErrorStream(true)
          .redirectOutput(LOGS.resolve("kube-controller-manager.log").toFile()).start();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private void stop() {
    admin.close();
    if (controllerManager != null) {
      controllerManager.destroy();
      try {
        if (!controllerManager.waitFor(10, TimeUnit.SECONDS)) {
          controllerManager.destroyForcibly();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    apiServer.stop();
    try {
      Files.deleteIfExists(kubeconfigFile);
    } catch (IOException e) {
      // a temporary file
    }
  }

  /** How long the tests wait for the controllers: a Deployment's Pod, a namespace's deletion. */
  public static final Duration CONTROLLERS = Duration.ofSeconds(60);
}
