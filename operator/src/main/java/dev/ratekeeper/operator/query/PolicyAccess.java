package dev.ratekeeper.operator.query;

import io.fabric8.kubernetes.api.model.authorization.v1.SubjectAccessReview;
import io.fabric8.kubernetes.api.model.authorization.v1.SubjectAccessReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;

/**
 * Asks the API server whether the caller may {@code get} the policy (a SubjectAccessReview), so that
 * the caller's own RBAC decides what {@code kubectl ratekeeper} shows, never the operator's rights.
 * The operator's ServiceAccount needs {@code create subjectaccessreviews} (ClusterRole
 * {@code system:auth-delegator}).
 */
public final class PolicyAccess {
  private final KubernetesClient client;

  public PolicyAccess(KubernetesClient client) {
    this.client = client;
  }

  /** Whether {@code caller} may {@code get ratelimitpolicies/<name>} in {@code namespace}. */
  public boolean mayGet(Caller caller, String namespace, String name) {
    SubjectAccessReview review = new SubjectAccessReviewBuilder()
        .withNewSpec()
          .withUser(caller.user())
          .withGroups(caller.groups())
          .withNewResourceAttributes()
            .withGroup(QueryApi.POLICY_GROUP)
            .withResource(QueryApi.POLICY_RESOURCE)
            .withVerb("get")
            .withNamespace(namespace)
            .withName(name)
          .endResourceAttributes()
        .endSpec()
        .build();
    SubjectAccessReview answered = client.authorization().v1().subjectAccessReview().create(review);
    return answered.getStatus() != null && Boolean.TRUE.equals(answered.getStatus().getAllowed());
  }
}
