package dev.ratekeeper.operator.reconcile;

import dev.ratekeeper.operator.api.RateLimitPolicy;
import dev.ratekeeper.operator.status.Announcement;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Clock;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Records Kubernetes Events (core/v1) on a policy. Best effort: a failed Event never fails a reconcile. */
final class PolicyEvents {
  static final String COMPONENT = "ratekeeper-operator";
  private static final int MAX_MESSAGE = 1024;
  private static final Logger LOG = LoggerFactory.getLogger(PolicyEvents.class);

  private final Clock clock;

  PolicyEvents(Clock clock) {
    this.clock = clock;
  }

  void record(KubernetesClient client, RateLimitPolicy policy, Announcement announcement) {
    String namespace = policy.getMetadata().getNamespace();
    String now = clock.instant().truncatedTo(ChronoUnit.SECONDS).toString();
    String message = announcement.message().length() <= MAX_MESSAGE ? announcement.message()
        : announcement.message().substring(0, MAX_MESSAGE - 3) + "...";
    Event event = new EventBuilder()
        .withNewMetadata()
          .withName(policy.getMetadata().getName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()))
          .withNamespace(namespace)
        .endMetadata()
        .withInvolvedObject(new ObjectReferenceBuilder()
            .withApiVersion(policy.getApiVersion())
            .withKind(policy.getKind())
            .withName(policy.getMetadata().getName())
            .withNamespace(namespace)
            .withUid(policy.getMetadata().getUid())
            .withResourceVersion(policy.getMetadata().getResourceVersion())
            .build())
        .withType(announcement.type())
        .withReason(announcement.reason())
        .withMessage(message)
        .withFirstTimestamp(now)
        .withLastTimestamp(now)
        .withCount(1)
        .withNewSource().withComponent(COMPONENT).endSource()
        .withReportingComponent(COMPONENT)
        .build();
    try {
      client.v1().events().inNamespace(namespace).resource(event).create();
    } catch (KubernetesClientException e) {
      LOG.warn("could not record event {} on {}/{}: {}", announcement.reason(), namespace,
          policy.getMetadata().getName(), e.getMessage());
    }
  }
}
