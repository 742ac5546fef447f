package dev.ratekeeper.operator.webhook;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The webhook's Prometheus metrics, registered in the registry it is given (the operator's, so
 * they appear on its admin port):
 * {@code ratekeeper_webhook_admissions_total{outcome}} (injected | skipped | refused | failed),
 * {@code ratekeeper_webhook_certificate_renewals_total},
 * {@code ratekeeper_webhook_certificate_expiry_timestamp_seconds} (notAfter of the served certificate).
 */
public final class WebhookMetrics {
  public static final String INJECTED = "injected";
  public static final String SKIPPED = "skipped";
  public static final String REFUSED = "refused";
  public static final String FAILED = "failed";

  private final Counter injected;
  private final Counter skipped;
  private final Counter refused;
  private final Counter failed;
  private final Counter renewals;
  private final AtomicLong expiry = new AtomicLong();

  public WebhookMetrics(MeterRegistry registry) {
    this.injected = admissions(registry, INJECTED);
    this.skipped = admissions(registry, SKIPPED);
    this.refused = admissions(registry, REFUSED);
    this.failed = admissions(registry, FAILED);
    this.renewals = Counter.builder("ratekeeper.webhook.certificate.renewals")
        .description("Serving certificates (and CAs) this process issued").register(registry);
    Gauge.builder("ratekeeper.webhook.certificate.expiry.timestamp", expiry, AtomicLong::get)
        .description("When the served certificate expires (Unix time)").baseUnit("seconds").register(registry);
  }

  public void injected() {
    injected.increment();
  }

  public void skipped() {
    skipped.increment();
  }

  public void refused() {
    refused.increment();
  }

  public void failed() {
    failed.increment();
  }

  public void renewed() {
    renewals.increment();
  }

  public void serving(long notAfterEpochSeconds) {
    expiry.set(notAfterEpochSeconds);
  }

  private static Counter admissions(MeterRegistry registry, String outcome) {
    return Counter.builder("ratekeeper.webhook.admissions")
        .description("Pod admission requests by outcome").tag("outcome", outcome).register(registry);
  }
}
