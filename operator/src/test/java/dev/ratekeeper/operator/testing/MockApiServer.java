package dev.ratekeeper.operator.testing;

import dev.ratekeeper.operator.api.RateLimitPolicy;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import java.io.InputStream;
import java.util.HashMap;

/**
 * Fabric8's mock API server in CRUD mode with the generated RateLimitPolicy CRD installed (so the
 * status subresource behaves as on a real API server), and a client for it.
 */
public final class MockApiServer implements AutoCloseable {
  private static final String CRD = "/META-INF/fabric8/" + RateLimitPolicy.CRD_NAME + "-v1.yml";

  /** Held so the JUL logger (and its level) is not collected: the mock logs every request at INFO. */
  private static final java.util.logging.Logger QUIET = java.util.logging.Logger.getLogger("io.fabric8.mockwebserver");

  static {
    QUIET.setLevel(java.util.logging.Level.WARNING);
  }

  private final KubernetesMockServer server;
  private final KubernetesClient client;
  private final java.util.List<String> requests = new java.util.ArrayList<>();

  public MockApiServer() {
    // one map: expectations set through server.expect() are answered by the dispatcher before its CRUD store
    var expectations = new HashMap<io.fabric8.mockwebserver.ServerRequest,
        java.util.Queue<io.fabric8.mockwebserver.ServerResponse>>();
    server = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(), expectations,
        new KubernetesMixedDispatcher(expectations), false);
    server.init();
    client = server.createClient();
    try (InputStream crd = MockApiServer.class.getResourceAsStream(CRD)) {
      if (crd == null) {
        throw new IllegalStateException(CRD + " is missing: the CRD generator runs at process-classes");
      }
      client.apiextensions().v1().customResourceDefinitions()
          .resource(client.getKubernetesSerialization().unmarshal(crd, CustomResourceDefinition.class)).create();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  public KubernetesClient client() {
    return client;
  }

  /**
   * Answers the SelfSubjectRulesReview JOSDK sends before leader election (the CRUD mock cannot):
   * this client may get, create and update Leases.
   */
  public void allowLeases() {
    var review = new io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectRulesReviewBuilder()
        .withNewMetadata().endMetadata()
        .withNewStatus()
          .addNewResourceRule().withApiGroups("coordination.k8s.io").withResources("leases")
            .withVerbs("get", "create", "update").endResourceRule()
          .withIncomplete(false)
        .endStatus()
        .build();
    server.expect().post().withPath("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews")
        .andReturn(201, review).always();
  }

  /** How many {@code method path} requests the server has received so far ({@code path} without query). */
  public synchronized long requests(String method, String path) {
    try {
      io.fabric8.mockwebserver.http.RecordedRequest request;
      while ((request = server.takeRequest(0, java.util.concurrent.TimeUnit.MILLISECONDS)) != null) {
        String p = request.getPath();
        int query = p.indexOf('?');
        requests.add(request.getMethod() + " " + (query < 0 ? p : p.substring(0, query)));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return requests.stream().filter(r -> r.equals(method + " " + path)).count();
  }

  @Override
  public void close() {
    client.close();
    server.destroy();
  }
}
