package dev.ratekeeper.operator;

import dev.ratekeeper.cli.ConfigException;
import dev.ratekeeper.operator.webhook.WebhookConfig;
import dev.ratekeeper.operator.webhook.WebhookServer;
import dev.ratekeeper.operator.admin.AdminServer;
import dev.ratekeeper.operator.admin.OperatorMetrics;
import dev.ratekeeper.operator.api.RateLimitPolicy;
import dev.ratekeeper.operator.store.RedisPolicyStore;
import dev.ratekeeper.operator.store.StoreUnavailableException;
import io.fabric8.kubernetes.api.model.ListOptionsBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code java -jar ratekeeper-operator.jar}: checks that the API server answers (a clear one-line
 * message and exit status 1 when it does not; an unreachable Redis is only warned about), then runs the operator and the admin
 * port until SIGTERM, on which it stops reconciling, closes its connections and exits.
 */
public final class OperatorMain {
  private static final Logger LOG = LoggerFactory.getLogger(OperatorMain.class);

  private OperatorMain() {}

  public static void main(String[] args) {
    if (OperatorConfig.COMMAND.wantsHelp(args)) {
      System.out.print(OperatorConfig.usage());
      return;
    }
    OperatorConfig config = null;
    WebhookConfig webhookConfig = null;
    List<String> problems = new ArrayList<>();
    try {
      config = OperatorConfig.parse(args, System.getenv());
    } catch (ConfigException e) {
      problems.addAll(e.problems());
    }
    try {
      webhookConfig = WebhookConfig.fromEnv(System.getenv());
    } catch (ConfigException e) {
      problems.addAll(e.problems());
    }
    if (!problems.isEmpty()) {
      System.err.println("ratekeeper-operator: cannot start:");
      problems.forEach(p -> System.err.println("  " + p));
      System.err.println("(--help lists every flag and variable)");
      System.exit(2);
      return;
    }
    Running running = start(config, webhookConfig, () -> new KubernetesClientBuilder().build(), System.err);
    if (running == null) {
      System.exit(1);
      return;
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      LOG.info("shutting down");
      running.close();
      stopped.countDown();
    }, "shutdown"));
    try {
      stopped.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** A started operator with its connections, admin port and (when enabled) the injection webhook. */
  public record Running(RatekeeperOperator operator, AdminServer admin, RedisPolicyStore store,
      KubernetesClient client, WebhookServer webhook) implements AutoCloseable {
    @Override
    public void close() {
      try {
        operator.stop();
      } catch (RuntimeException e) {
        LOG.warn("stopping the operator: {}", e.getMessage());
      }
      if (webhook != null) {
        webhook.close();
      }
      admin.close();
      store.close();
      client.close();
    }
  }

  /**
   * Connects, checks and starts everything; on a failure prints one line to {@code err}, releases
   * what was opened and returns null.
   */
  public static Running start(OperatorConfig config, Supplier<KubernetesClient> clients, PrintStream err) {
    return start(config, WebhookConfig.disabled(), clients, err);
  }

  /**
   * As {@link #start(OperatorConfig, Supplier, PrintStream)}, with the sidecar-injection webhook
   * when {@code webhookConfig} enables it. The webhook runs on every replica, leader or not: the
   * Service sends admission calls to any ready pod.
   */
  public static Running start(OperatorConfig config, WebhookConfig webhookConfig, Supplier<KubernetesClient> clients,
      PrintStream err) {
    LOG.info("starting: {}", config);
    RedisPolicyStore store = new RedisPolicyStore(config.redis(), config.revisionRetention());
    try {
      store.ping();
    } catch (StoreUnavailableException e) {
      // not fatal: the webhook needs no Redis, and reconciles retry with backoff until Redis answers
      LOG.warn("Redis at {} is unreachable ({}); starting anyway: policies are compiled into it once it answers",
          config.redis().address(), rootMessage(e));
    }
    KubernetesClient client = null;
    AdminServer admin = null;
    RatekeeperOperator operator = null;
    WebhookServer webhook = null;
    try {
      client = clients.get();
      String problem = checkApiServer(client, config);
      if (problem != null) {
        err.println("ratekeeper-operator: " + problem);
        client.close();
        store.close();
        return null;
      }
      PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      new JvmMemoryMetrics().bindTo(registry);
      new ProcessorMetrics().bindTo(registry);
      OperatorMetrics metrics = new OperatorMetrics(registry);
      operator = new RatekeeperOperator(client, store, config.settings(), metrics);
      RatekeeperOperator started = operator;
      admin = new AdminServer(config.adminListen(), registry, () -> readiness(started, store));
      admin.start();
      if (webhookConfig.enabled()) {
        webhook = WebhookServer.start(client, webhookConfig, registry);
        LOG.info("sidecar-injection webhook on port {}", webhook.port());
      }
      operator.start();
      LOG.info("running; admin port {}", admin.port());
      return new Running(operator, admin, store, client, webhook);
    } catch (Exception e) {
      err.println("ratekeeper-operator: cannot start: " + rootMessage(e));
      if (operator != null) {
        try {
          operator.stop();
        } catch (RuntimeException ignored) {
          // already failing
        }
      }
      if (webhook != null) {
        webhook.close();
      }
      if (admin != null) {
        admin.close();
      }
      if (client != null) {
        client.close();
      }
      store.close();
      return null;
    }
  }

  /**
   * Null when the API server answers and RateLimitPolicies can be listed, else what is wrong. Asks
   * once, without the client's retries, so a missing API server is reported in seconds.
   */
  static String checkApiServer(KubernetesClient client, OperatorConfig config) {
    String where = client.getConfiguration().getMasterUrl();
    Config once = new ConfigBuilder(client.getConfiguration()).withRequestRetryBackoffLimit(0).build();
    try (KubernetesClient probe = new KubernetesClientBuilder().withConfig(once).build()) {
      var list = new ListOptionsBuilder().withLimit(1L).build();
      if (config.namespaces().isEmpty()) {
        probe.resources(RateLimitPolicy.class).inAnyNamespace().list(list);
      } else {
        for (String namespace : config.namespaces()) {
          probe.resources(RateLimitPolicy.class).inNamespace(namespace).list(list);
        }
      }
      return null;
    } catch (KubernetesClientException e) {
      if (e.getCode() == 404) {
        return "the API server at " + where + " does not serve " + RateLimitPolicy.CRD_NAME
            + ": install the CRD (kubectl apply -f crds/)";
      }
      if (e.getCode() == 401 || e.getCode() == 403) {
        return "the API server at " + where + " refused to list RateLimitPolicies (HTTP " + e.getCode()
            + "): check the service account's RBAC";
      }
      return "cannot reach the API server at " + where + ": " + rootMessage(e);
    }
  }

  private static AdminServer.Readiness readiness(RatekeeperOperator operator, RedisPolicyStore store) {
    if (!operator.healthy()) {
      return new AdminServer.Readiness(false, "informers not started or not synced");
    }
    // Redis does not decide readiness: the webhook (in the same Service) must keep admitting pods while
    // Redis is down, and reconciles retry by themselves; the policies' conditions and metrics say it
    try {
      store.ping();
    } catch (StoreUnavailableException e) {
      return new AdminServer.Readiness(true, "ready; Redis unreachable: " + e.detail() + " (reconciles retry)");
    }
    return new AdminServer.Readiness(true, "ready");
  }

  /**
   * The most specific words for a failure: the deepest message in the cause chain, else the name
   * of the first cause more specific than an IOException (e.g. ConnectException).
   */
  static String rootMessage(Throwable e) {
    String message = null;
    String kind = null;
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t.getMessage() != null && !t.getMessage().isBlank()) {
        message = t.getMessage();
      }
      if (t != e && kind == null && t.getClass() != java.io.IOException.class) {
        kind = t.getClass().getSimpleName();
      }
    }
    boolean topOnly = message != null && message.equals(e.getMessage()) && e.getCause() != null;
    String result = message == null || topOnly && kind != null ? (kind != null ? kind : e.getClass().getSimpleName())
        : message;
    return result.replace('\n', ' ');
  }
}
