package dev.ratekeeper.operator.webhook;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import dev.ratekeeper.operator.webhook.inject.SidecarInjector;
import dev.ratekeeper.operator.webhook.tls.CaBundlePublisher;
import dev.ratekeeper.operator.webhook.tls.CertificateIssuer;
import dev.ratekeeper.operator.webhook.tls.CertificateRotator;
import dev.ratekeeper.operator.webhook.tls.ReloadableKeyManager;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sidecar-injection webhook: HTTPS (the JDK's own server) with {@code POST /mutate} for
 * AdmissionReviews and {@code GET /healthz}. At start it makes sure its TLS Secret holds a good
 * certificate (issuing one if needed) and that the MutatingWebhookConfiguration trusts its CA;
 * then it re-checks every {@code checkInterval} (sooner after a failure), renews before expiry and
 * swaps the served certificate without a restart.
 *
 * <p>Use: {@code WebhookServer.start(client, WebhookConfig.fromEnv(System.getenv()), registry)},
 * then {@link #close()} at shutdown.
 */
public final class WebhookServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(WebhookServer.class);
  public static final String MUTATE_PATH = "/mutate";
  public static final String HEALTH_PATH = "/healthz";
  /** An AdmissionReview of the largest pod etcd stores (1.5 MiB) fits with room to spare. */
  static final int MAX_BODY = 4 * 1024 * 1024;
  private static final Duration RETRY_AFTER_FAILURE = Duration.ofSeconds(10);

  private final WebhookConfig config;
  private final CertificateRotator rotator;
  private final ReloadableKeyManager keyManager;
  private final WebhookMetrics metrics;
  private final AdmissionHandler handler;
  private final HttpsServer server;
  private final ExecutorService executor;
  private final ScheduledExecutorService scheduler;

  /** Starts the webhook with the system clock and periodic certificate checks. */
  public static WebhookServer start(KubernetesClient client, WebhookConfig config, MeterRegistry registry)
      throws IOException {
    return start(client, config, registry, Clock.systemUTC(), true);
  }

  /** Starts the webhook; without {@code scheduleChecks}, certificates are checked only by {@link #checkCertificate()}. */
  static WebhookServer start(KubernetesClient client, WebhookConfig config, MeterRegistry registry, Clock clock,
      boolean scheduleChecks) throws IOException {
    if (!config.enabled()) {
      throw new IllegalArgumentException("the webhook is disabled (RATEKEEPER_WEBHOOK_ENABLED is not true)");
    }
    WebhookServer webhook = new WebhookServer(client, config, registry, clock);
    if (scheduleChecks) {
      webhook.scheduleCheck(config.checkInterval());
    }
    return webhook;
  }

  private WebhookServer(KubernetesClient client, WebhookConfig config, MeterRegistry registry, Clock clock)
      throws IOException {
    this.config = config;
    this.metrics = new WebhookMetrics(registry);
    this.rotator = new CertificateRotator(client, new CertificateRotator.Settings(config.namespace(),
        config.secretName(), config.dnsNames(), config.caValidity(), config.certValidity(), config.renewBefore()),
        new CaBundlePublisher(client, config.webhookConfigName()), new CertificateIssuer(), clock);
    CertificateRotator.Check first = rotator.check();
    this.keyManager = new ReloadableKeyManager(first.material().serving());
    observe(first);
    this.handler = new AdmissionHandler(new SidecarInjector(config.injection()), new KubernetesClusterLookup(client),
        metrics);
    this.executor = Executors.newFixedThreadPool(4, daemon("webhook-https"));
    this.scheduler = Executors.newSingleThreadScheduledExecutor(daemon("webhook-certificates"));
    try {
      this.server = HttpsServer.create(config.listen(), 64);
      server.setHttpsConfigurator(new HttpsConfigurator(keyManager.sslContext()));
    } catch (GeneralSecurityException | IOException e) {
      executor.shutdownNow();
      scheduler.shutdownNow();
      throw new IOException("cannot listen on " + config.listen() + ": " + e.getMessage(), e);
    }
    server.setExecutor(executor);
    server.createContext(MUTATE_PATH, this::mutate);
    server.createContext(HEALTH_PATH, exchange -> respond(exchange, 200, "text/plain", "ok\n"));
    server.start();
    LOG.info("sidecar-injection webhook listening on https://{}{} for {} (certificate valid until {})",
        server.getAddress(), MUTATE_PATH, config.dnsNames(), keyManager.certificate().getNotAfter().toInstant());
  }

  /** The bound port (useful with port 0). */
  public int port() {
    return server.getAddress().getPort();
  }

  /** The certificate new connections are served. */
  public X509Certificate servingCertificate() {
    return keyManager.certificate();
  }

  /**
   * Checks the Secret and the caBundle now: renews what is due, serves what the Secret holds (it may
   * have been renewed by another replica). Returns false when the check failed or the
   * MutatingWebhookConfiguration is missing; the periodic check then comes back sooner.
   */
  public synchronized boolean checkCertificate() {
    try {
      return observe(rotator.check());
    } catch (RuntimeException e) {
      LOG.warn("webhook certificate check failed: {}", e.getMessage());
      return false;
    }
  }

  private boolean observe(CertificateRotator.Check check) {
    if (check.renewed()) {
      metrics.renewed();
    }
    if (keyManager != null && !check.material().serving().certificate().equals(keyManager.certificate())) {
      keyManager.reload(check.material().serving());
      LOG.info("now serving the certificate valid until {}",
          check.material().serving().certificate().getNotAfter().toInstant());
    }
    metrics.serving(check.material().serving().certificate().getNotAfter().toInstant().getEpochSecond());
    if (check.bundle() == CaBundlePublisher.Result.ConfigurationMissing) {
      LOG.warn("MutatingWebhookConfiguration {} not found: its caBundle cannot be set, so the API server cannot"
          + " call this webhook yet; retrying", config.webhookConfigName());
      return false;
    }
    return true;
  }

  private void scheduleCheck(Duration delay) {
    scheduler.schedule(() -> {
      boolean ok = checkCertificate();
      scheduleCheck(ok || config.checkInterval().compareTo(RETRY_AFTER_FAILURE) < 0
          ? config.checkInterval() : RETRY_AFTER_FAILURE);
    }, delay.toMillis(), TimeUnit.MILLISECONDS);
  }

  private void mutate(HttpExchange exchange) throws IOException {
    try (exchange) {
      if (!"POST".equals(exchange.getRequestMethod())) {
        exchange.getResponseHeaders().set("Allow", "POST");
        respond(exchange, 405, "text/plain", "POST an AdmissionReview\n");
        return;
      }
      byte[] body;
      try (InputStream in = exchange.getRequestBody()) {
        body = in.readNBytes(MAX_BODY + 1);
      }
      if (body.length > MAX_BODY) {
        metrics.failed();
        respond(exchange, 413, "text/plain", "AdmissionReview larger than " + MAX_BODY + " bytes\n");
        return;
      }
      AdmissionHandler.Reply reply;
      try {
        reply = handler.handle(body);
      } catch (RuntimeException e) {
        metrics.failed();
        LOG.error("admission failed", e);
        reply = new AdmissionHandler.Reply(500, "internal error: " + e + "\n");
      }
      respond(exchange, reply.status(), reply.status() == 200 ? "application/json" : "text/plain", reply.body());
    }
  }

  private static void respond(HttpExchange exchange, int status, String contentType, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", contentType);
    exchange.sendResponseHeaders(status, bytes.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(bytes);
    }
  }

  @Override
  public void close() {
    scheduler.shutdownNow();
    server.stop(0);
    executor.shutdownNow();
  }

  private static ThreadFactory daemon(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }
}
