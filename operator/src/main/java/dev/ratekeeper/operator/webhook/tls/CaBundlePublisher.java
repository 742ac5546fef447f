package dev.ratekeeper.operator.webhook.tls;

import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhook;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfiguration;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps {@code clientConfig.caBundle} of every webhook in the named MutatingWebhookConfiguration
 * equal to the webhook's CA bundle. The configuration itself belongs to the installer (the Helm
 * chart); this only patches the bundle, and only when it differs.
 */
public final class CaBundlePublisher {
  private static final Logger LOG = LoggerFactory.getLogger(CaBundlePublisher.class);

  /** What publishing found. */
  public enum Result { Unchanged, Updated, ConfigurationMissing }

  private final KubernetesClient client;
  private final String configurationName;

  public CaBundlePublisher(KubernetesClient client, String configurationName) {
    this.client = client;
    this.configurationName = configurationName;
  }

  public Result publish(String caBundlePem) {
    String bundle = Base64.getEncoder().encodeToString(caBundlePem.getBytes(StandardCharsets.UTF_8));
    var resource = client.admissionRegistration().v1().mutatingWebhookConfigurations().withName(configurationName);
    MutatingWebhookConfiguration current = resource.get();
    if (current == null) {
      return Result.ConfigurationMissing;
    }
    if (current.getWebhooks() == null || current.getWebhooks().stream().allMatch(w -> upToDate(w, bundle))) {
      return Result.Unchanged;
    }
    resource.edit(config -> {
      for (MutatingWebhook webhook : config.getWebhooks()) {
        if (webhook.getClientConfig() != null) {
          webhook.getClientConfig().setCaBundle(bundle);
        }
      }
      return config;
    });
    LOG.info("MutatingWebhookConfiguration {}: caBundle updated", configurationName);
    return Result.Updated;
  }

  private static boolean upToDate(MutatingWebhook webhook, String bundle) {
    return webhook.getClientConfig() == null || Objects.equals(webhook.getClientConfig().getCaBundle(), bundle);
  }
}
