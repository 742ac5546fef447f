package dev.ratekeeper.sidecar.fault;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.sidecar.fault.MalformedCorpus.Case;
import dev.ratekeeper.sidecar.it.SidecarFixture;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The malformed-request corpus ({@link MalformedCorpus}, over 500 requests) against two sidecars,
 * first from one client in order, then shuffled from eight clients at once: every request gets the
 * 4xx the contract names in the provider's own error shape, none reaches the provider, and the
 * sidecars stay healthy and serve valid calls afterwards.
 */
class MalformedRequestsIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: malformed, namespace: fault}
      spec:
        tiers:
        - name: everyone
          requests: {perMinute: 1000000}
        models:
        - name: claude-sonnet-4-6
          pricing: {inputPerMillion: "3.00", outputPerMillion: "15.00"}
        - name: gpt-4o
          pricing: {inputPerMillion: "2.50", outputPerMillion: "10.00"}
        unmeteredPaths: Deny
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
        - {name: openai, url: "https://api.openai.com", format: openai}
      """;

  static SidecarFixture fixture;
  static StubLlmUpstream stub;
  static List<Sidecar> sidecars = new ArrayList<>();
  static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  @BeforeAll
  static void start() {
    fixture = new SidecarFixture();
    fixture.startRedis();
    stub = StubLlmUpstream.start();
    String policy = SidecarFixture.policyFile(POLICY).toString();
    for (int i = 0; i < 2; i++) {
      sidecars.add(fixture.sidecar(Map.of(), "--policy-file", policy, "--redis", fixture.redisUrl(),
          "--upstream", "anthropic=" + stub.url(), "--upstream", "openai=" + stub.url(), "--max-body", "64KiB"));
    }
  }

  @AfterAll
  static void stop() {
    fixture.close();
    stub.close();
  }

  @BeforeEach
  void resetStub() {
    stub.reset();
  }

  @Test
  void everyMalformedRequestGetsA4xxInTheProviderShapeAndNoneReachesTheProvider() throws Exception {
    List<Case> corpus = MalformedCorpus.cases();
    assertThat(corpus).hasSizeGreaterThanOrEqualTo(500);

    // on a busy machine an earlier call may have been decided in memory after a slow Redis reply and be
    // added to Redis later: wait until nothing is journaled, so the count below is the corpus's alone
    org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> sidecars.stream()
        .allMatch(s -> ((dev.ratekeeper.sidecar.resilience.ResilientLimiterStore) s.store()).journaled() == 0));
    long decidedBefore = decided();
    List<String> wrong = Collections.synchronizedList(new ArrayList<>());
    for (Case c : corpus) {
      check(sidecars.get(0), c, wrong);
    }
    assertThat(wrong).as("one client, in order").isEmpty();

    List<Case> shuffled = new ArrayList<>(corpus);
    Collections.shuffle(shuffled, new Random(7));
    ExecutorService clients = Executors.newFixedThreadPool(8);
    List<Future<?>> done = new ArrayList<>();
    for (int i = 0; i < shuffled.size(); i++) {
      Case c = shuffled.get(i);
      Sidecar target = sidecars.get(i % 2);
      done.add(clients.submit(() -> check(target, c, wrong)));
    }
    for (Future<?> f : done) {
      f.get();
    }
    clients.shutdown();
    assertThat(wrong).as("eight clients at once, both sidecars").isEmpty();
    System.out.println("FAULT-FIGURES malformed: " + corpus.size() + " requests, sent in order then from 8 clients at once");

    assertThat(stub.requestCount()).as("nothing malformed reached the provider").isZero();
    assertThat(decided()).as("nor the limiter: it admitted, throttled or rejected nothing").isEqualTo(decidedBefore);
    for (Sidecar sidecar : sidecars) {
      assertThat(fixture.get(sidecar.adminPort(), "/healthz").statusCode()).isEqualTo(200);
      assertThat(fixture.get(sidecar.adminPort(), "/readyz").statusCode()).isEqualTo(200);
      for (MalformedCorpus.Endpoint e : MalformedCorpus.ENDPOINTS) {
        HttpResponse<String> ok = send(sidecar, "POST", e.path(), "application/json",
            e.json().getBytes(StandardCharsets.UTF_8), false);
        assertThat(ok.statusCode()).as(e.path() + ": " + ok.body()).isEqualTo(200);
      }
    }
    assertThat(stub.requestCount()).isEqualTo(2L * MalformedCorpus.ENDPOINTS.size());
  }

  @Test
  void bodiesTheContractDoesNotRefuseAreForwardedForTheProviderToJudge() {
    List<String[]> forwarded = MalformedCorpus.forwardedByContract();
    for (String[] f : forwarded) {
      HttpResponse<String> resp = send(sidecars.get(1), "POST", f[0], f[1], f[2].getBytes(StandardCharsets.UTF_8),
          false);
      assertThat(resp.statusCode()).as(f[2] + ": " + resp.body()).isEqualTo(200);
    }
    assertThat(stub.requestCount()).isEqualTo(forwarded.size());
  }

  /** Every decision the limiter counted for the policy (admitted, throttled, rejected). */
  private static long decided() {
    String stats = fixture.redisKey("rk:{fault/malformed}:stats:*");
    return fixture.redisLong("HGET", stats, "requests") + fixture.redisLong("HGET", stats, "throttled")
        + fixture.redisLong("HGET", stats, "rejected");
  }

  private static void check(Sidecar sidecar, Case c, List<String> wrong) {
    try {
      HttpResponse<String> resp = send(sidecar, c.method(), c.path(), c.contentType(), c.body(), c.chunked());
      String problem = problem(c, resp);
      if (problem != null) {
        wrong.add(c.label() + ": " + problem + " — got " + resp.statusCode() + " "
            + resp.body().substring(0, Math.min(200, resp.body().length())));
      }
    } catch (RuntimeException e) {
      wrong.add(c.label() + ": " + e);
    }
  }

  /** Why {@code resp} is not the refusal {@code c} must get; null when it is. */
  private static String problem(Case c, HttpResponse<String> resp) {
    if (resp.statusCode() != c.status()) {
      return "status " + resp.statusCode() + ", expected " + c.status();
    }
    if (!resp.headers().firstValue("content-type").orElse("").startsWith("application/json")) {
      return "content-type " + resp.headers().firstValue("content-type");
    }
    JsonNode root;
    try {
      root = JSON.readTree(resp.body());
    } catch (Exception e) {
      return "body is not JSON";
    }
    JsonNode error = root.path("error");
    if (!error.path("message").isTextual() || error.path("message").asText().isBlank()
        || !error.path("type").isTextual()) {
      return "no error.message / error.type";
    }
    if (c.shape() == UpstreamFormat.ANTHROPIC) {
      String expected = switch (c.status()) {
        case 400 -> "invalid_request_error";
        case 403 -> "permission_error";
        case 404 -> "not_found_error";
        case 405 -> "invalid_request_error";
        case 413 -> "request_too_large";
        default -> "?";
      };
      if (root.size() != 2 || !"error".equals(root.path("type").asText()) || error.size() != 2) {
        return "not Anthropic's {\"type\":\"error\",\"error\":{\"type\",\"message\"}}";
      }
      return expected.equals(error.path("type").asText()) ? null : "error.type " + error.path("type");
    }
    if (root.size() != 1 || !error.has("param") || !error.has("code") || error.size() != 4) {
      return "not OpenAI's {\"error\":{\"message\",\"type\",\"param\",\"code\"}}";
    }
    return "invalid_request_error".equals(error.path("type").asText()) ? null : "error.type " + error.path("type");
  }

  private static HttpResponse<String> send(Sidecar sidecar, String method, String path, String contentType, byte[] body,
      boolean chunked) {
    HttpRequest.BodyPublisher publisher = body == null ? HttpRequest.BodyPublishers.noBody()
        : chunked ? HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(body))
        : HttpRequest.BodyPublishers.ofByteArray(body);
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sidecar.proxyPort() + path))
        .timeout(Duration.ofSeconds(5)).method(method, publisher).header("X-Ratekeeper-User", "corpus");
    if (contentType != null) {
      request.header("content-type", contentType);
    }
    try {
      return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
