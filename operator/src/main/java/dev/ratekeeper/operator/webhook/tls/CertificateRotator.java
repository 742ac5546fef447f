package dev.ratekeeper.operator.webhook.tls;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the webhook's TLS Secret holding a serving certificate that is signed by the CA, names
 * every DNS name and has more than {@code renewBefore} left (and so does the CA), and keeps the
 * MutatingWebhookConfiguration's caBundle equal to the CA. Reuses what is there when it is good;
 * otherwise issues a new serving certificate from the same CA (when its key is in the Secret and
 * it lives long enough) or a new CA as well, keeping the old CA in the bundle until it expires.
 *
 * <p>A Secret it may not write (HTTP 403, e.g. one cert-manager manages, with get-only RBAC) is
 * served as it is while its certificate is valid and signed by its CA.
 *
 * <p>Safe with several replicas: the Secret is the one source of truth, created with create and
 * replaced with the resourceVersion it was read at; a replica that loses the race reads and uses
 * the winner's certificate. Time comes from the injected clock.
 */
public final class CertificateRotator {
  private static final Logger LOG = LoggerFactory.getLogger(CertificateRotator.class);
  static final String CA_NAME = "ratekeeper-webhook-ca";
  private static final int ATTEMPTS = 3;

  /** Where the Secret lives and what to issue. */
  public record Settings(String namespace, String secretName, List<String> dnsNames, Duration caValidity,
      Duration certValidity, Duration renewBefore) {
    public Settings {
      Objects.requireNonNull(namespace, "namespace");
      Objects.requireNonNull(secretName, "secretName");
      dnsNames = List.copyOf(dnsNames);
      if (dnsNames.isEmpty()) {
        throw new IllegalArgumentException("at least one DNS name is needed");
      }
    }
  }

  /** The material to serve now, whether this check issued it, and what publishing the caBundle found. */
  public record Check(TlsMaterial material, boolean renewed, CaBundlePublisher.Result bundle) {}

  private final KubernetesClient client;
  private final Settings settings;
  private final CaBundlePublisher publisher;
  private final CertificateIssuer issuer;
  private final Clock clock;

  public CertificateRotator(KubernetesClient client, Settings settings, CaBundlePublisher publisher,
      CertificateIssuer issuer, Clock clock) {
    this.client = client;
    this.settings = settings;
    this.publisher = publisher;
    this.issuer = issuer;
    this.clock = clock;
  }

  /** Reads the Secret, renews what is due, publishes the caBundle; throws when the API server fails. */
  public Check check() {
    for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
      Instant now = clock.instant();
      Secret secret = client.secrets().inNamespace(settings.namespace()).withName(settings.secretName()).get();
      TlsMaterial existing = null;
      String reason;
      if (secret == null) {
        reason = "it does not exist";
      } else {
        try {
          existing = TlsSecret.read(secret);
          reason = existing.renewalReason(settings.dnsNames(), now, settings.renewBefore());
        } catch (IOException | RuntimeException e) {
          reason = "it cannot be used: " + e.getMessage();
        }
      }
      if (reason == null) {
        return new Check(existing, false, publisher.publish(existing.caBundle(now)));
      }
      TlsMaterial renewed = renew(existing, now);
      // Trust first, serve second: the bundle names the new CA before any replica serves its certificate.
      CaBundlePublisher.Result bundle = publisher.publish(renewed.caBundle(now));
      Secret updated = TlsSecret.write(secret, settings.namespace(), settings.secretName(), renewed);
      try {
        if (secret == null) {
          client.secrets().inNamespace(settings.namespace()).resource(updated).create();
        } else {
          client.secrets().inNamespace(settings.namespace()).resource(updated).update();
        }
      } catch (KubernetesClientException e) {
        if (e.getCode() == 409) {
          LOG.info("Secret {}/{} changed while renewing (another replica?); reading it again",
              settings.namespace(), settings.secretName());
          continue;
        }
        if (e.getCode() == 403 && existing != null && existing.servable(now)) {
          // someone else owns the Secret (cert-manager, with get-only RBAC): serve theirs while it is valid
          LOG.warn("Secret {}/{} should be renewed ({}) but may not be written (HTTP 403); serving it as it is"
              + " until {}", settings.namespace(), settings.secretName(), reason,
              existing.serving().certificate().getNotAfter().toInstant());
          return new Check(existing, false, publisher.publish(existing.caBundle(now)));
        }
        throw e;
      }
      LOG.info("Secret {}/{}: issued a serving certificate valid until {}{} because {}", settings.namespace(),
          settings.secretName(), renewed.serving().certificate().getNotAfter().toInstant(),
          existing != null && renewed.ca() == existing.ca() ? "" : " and a new CA", reason);
      return new Check(renewed, true, bundle);
    }
    throw new IllegalStateException("Secret " + settings.namespace() + "/" + settings.secretName()
        + " kept changing while renewing the webhook certificate");
  }

  private TlsMaterial renew(TlsMaterial existing, Instant now) {
    KeyAndCertificate ca;
    java.security.cert.X509Certificate previous;
    if (existing != null && existing.caCanIssue(now, settings.renewBefore())) {
      ca = new KeyAndCertificate(existing.ca(), existing.caKey());
      previous = existing.previousCa();
    } else {
      ca = issuer.newCa(CA_NAME, now, settings.caValidity());
      previous = existing == null ? null : existing.ca();
    }
    if (previous != null && !previous.getNotAfter().toInstant().isAfter(now)) {
      previous = null;
    }
    KeyAndCertificate serving = issuer.serving(ca, settings.dnsNames(), now, settings.certValidity());
    return new TlsMaterial(ca.certificate(), ca.key(), previous, serving);
  }
}
