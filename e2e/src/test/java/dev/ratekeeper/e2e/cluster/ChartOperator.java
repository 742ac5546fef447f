package dev.ratekeeper.e2e.cluster;

import dev.ratekeeper.e2e.Processes;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Replicas of the operator as the chart's Deployment runs them, as processes on this machine: the
 * operator jar with the container's args and environment (downward-API fields resolved as the
 * kubelet would), authenticated as the chart's ServiceAccount with a token the API server issued, so
 * the chart's RBAC is what the API server enforces. Only what cannot be the same outside a pod is
 * changed: Redis is the test's, and the admin, webhook and query servers listen on port 0.
 */
public final class ChartOperator implements AutoCloseable {
  /** OperatorMain's start-up lines, naming the ports its servers bound. */
  private static final Pattern ADMIN_STARTED = Pattern.compile("running; admin port (\\d+)");
  private static final Pattern WEBHOOK_STARTED = Pattern.compile("sidecar-injection webhook on port (\\d+)");
  private static final Pattern QUERY_STARTED = Pattern.compile("query API \\(kubectl ratekeeper\\) on port (\\d+)");
  private final ControlPlane plane;
  private final ChartRelease release;
  private final Container container;
  private final String serviceAccount;
  private final Path kubeconfig;
  private final String redisUrl;
  private final Map<String, String> settings;
  private final Processes processes = new Processes();
  private final Map<String, Replica> replicas = new LinkedHashMap<>();

  /** One running replica: its pod name (the Lease identity), process and ports (webhook, query: 0 when off). */
  public record Replica(String podName, Process process, int adminPort, int webhookPort, int queryPort) {}

  /** {@code settings}: operator environment variables the test sets on top of the chart's (e.g. shorter timeouts). */
  public ChartOperator(ControlPlane plane, ChartRelease release, String redisUrl, Map<String, String> settings) {
    this.plane = plane;
    this.release = release;
    this.redisUrl = redisUrl;
    this.settings = Map.copyOf(settings);
    Deployment deployment = release.operatorDeployment();
    this.container = deployment.getSpec().getTemplate().getSpec().getContainers().get(0);
    this.serviceAccount = deployment.getSpec().getTemplate().getSpec().getServiceAccountName();
    this.kubeconfig = plane.kubeconfigAs(release.namespace(), serviceAccount);
  }

  public String serviceAccount() {
    return serviceAccount;
  }

  /** The value the chart sets for an environment variable of the operator container, or null. */
  public String chartEnv(String name) {
    return container.getEnv().stream().filter(e -> name.equals(e.getName())).map(EnvVar::getValue).findFirst()
        .orElse(null);
  }

  /**
   * Starts a replica named like a pod of the Deployment, its servers on port 0 (the ports they bound are
   * read from its log), and waits until its admin port answers /healthz.
   */
  public Replica start(String podName) {
    Map<String, String> env = new LinkedHashMap<>();
    for (EnvVar var : container.getEnv()) {
      if (var.getValue() != null) {
        env.put(var.getName(), var.getValue());
      } else if (var.getValueFrom() != null && var.getValueFrom().getFieldRef() != null) {
        String field = var.getValueFrom().getFieldRef().getFieldPath();
        env.put(var.getName(), switch (field) {
          case "metadata.name" -> podName;
          case "metadata.namespace" -> release.namespace();
          default -> throw new IllegalStateException("the test does not resolve fieldRef " + field);
        });
      }
      // secretKeyRef: the Redis password of the chart's own Redis; the test's Redis has none
    }
    env.remove("RATEKEEPER_REDIS_PASSWORD");
    env.remove("JAVA_TOOL_OPTIONS"); // container memory settings; this JVM is a plain process
    env.putAll(settings);
    env.put("RATEKEEPER_REDIS_URL", redisUrl);
    env.put("RATEKEEPER_ADMIN_LISTEN", "127.0.0.1:0");
    env.put("RATEKEEPER_WEBHOOK_LISTEN", "0.0.0.0:0");
    env.computeIfPresent("RATEKEEPER_QUERY_LISTEN", (name, chartValue) -> "0.0.0.0:0");
    env.put("KUBECONFIG", kubeconfig.toString());
    env.put("HOME", System.getProperty("java.io.tmpdir"));
    List<String> args = new ArrayList<>(List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx256m", "-jar",
        Processes.classpathOf(Processes.OPERATOR_JAR)));
    if (container.getArgs() != null) {
      args.addAll(container.getArgs());
    }
    Process process = processes.java("operator-" + podName, env, args);
    // the admin line comes last, after the webhook's and the query API's (each logged only when enabled)
    int admin = Integer.parseInt(processes.awaitLogLine("operator-" + podName, process, ADMIN_STARTED).group(1));
    int webhook = loggedPort(podName, WEBHOOK_STARTED);
    int query = loggedPort(podName, QUERY_STARTED);
    processes.awaitOk("http://127.0.0.1:" + admin + "/healthz", "operator-" + podName, process);
    Replica replica = new Replica(podName, process, admin, webhook, query);
    replicas.put(podName, replica);
    return replica;
  }

  public Replica replica(String podName) {
    return replicas.get(podName);
  }

  /** SIGKILL: the replica gets no chance to release its Lease, as when its node dies. */
  public void kill(String podName) throws InterruptedException {
    Process process = replicas.get(podName).process();
    process.destroyForcibly();
    process.waitFor();
  }

  public Path logOf(String podName) {
    return Path.of("target", "e2e-logs", "operator-" + podName + ".log");
  }

  /** The port a line of the replica's log names, 0 when there is none (that server is off). */
  private int loggedPort(String podName, Pattern line) {
    try {
      Matcher m = line.matcher(Files.readString(logOf(podName), StandardCharsets.ISO_8859_1));
      return m.find() ? Integer.parseInt(m.group(1)) : 0;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public void close() {
    processes.close();
    kubeconfig.toFile().delete();
  }

  ControlPlane plane() {
    return plane;
  }
}
