package dev.ratekeeper.operator.query;

/**
 * The read-only API group the operator serves to {@code kubectl ratekeeper} through the Kubernetes
 * API server's aggregation layer (an APIService): paths under
 * {@code /apis/query.ratekeeper.dev/v1alpha1/namespaces/<ns>/ratelimitpolicies/<name>/}.
 */
public final class QueryApi {
  public static final String GROUP = "query.ratekeeper.dev";
  public static final String VERSION = "v1alpha1";
  public static final String API_VERSION = GROUP + "/" + VERSION;
  public static final String ROOT = "/apis/" + API_VERSION;
  /** {@code GET .../explain?user=<id>[&tier=<tier>][&model=<model>][&run=<run>]}: every limit of one user. */
  public static final String EXPLAIN = "explain";
  /** {@code GET .../top}: spend and the heaviest users this period. */
  public static final String TOP = "top";
  /** {@code GET .../enforcement}: the current revision and what every sidecar enforces. */
  public static final String ENFORCEMENT = "enforcement";
  /** The policies' own API group and resource: the caller needs {@code get} on the policy. */
  public static final String POLICY_GROUP = "ratekeeper.dev";
  public static final String POLICY_RESOURCE = "ratelimitpolicies";

  private QueryApi() {}
}
