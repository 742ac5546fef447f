package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.sidecar.wire.TokenEstimator;
import dev.ratekeeper.testkit.StubLlmUpstream;
import dev.ratekeeper.testkit.StubLlmUpstream.OpenAiDialect;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Azure OpenAI and OpenAI-compatible servers through a real sidecar, real Redis and the stub speaking
 * their wire: an Azure deployment is charged as the model it is mapped to, exactly, streamed or not;
 * the sidecar-held key travels in {@code api-key} and {@code api-version} is forwarded as sent; an
 * unmapped deployment is a 404 never forwarded. Streams of OpenAI-compatible servers are charged by
 * the usage they report wherever they put it, and at the estimate (counted as {@code no_usage}) when
 * they report none.
 */
class AzureAndCompatibleProvidersIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: providers, namespace: azure-it}
      spec:
        tiers:
        - name: std
          tokens: {perDay: 10000000}
          budget: {usd: "10.00", period: Monthly}
        - name: capped                # the sidecar writes an output cap into calls that name none
          tokens: {perDay: 10000000, maxPerRequest: 100}
          budget: {usd: "10.00", period: Monthly}
        users:
        - {id: compat-mistral, tier: capped}
        models:
        - name: gpt-4o
          tokens: {perDay: 10000000}
          pricing: {inputPerMillion: "2.50", outputPerMillion: "10.00"}
        - name: gpt-4o-mini
          tokens: {perDay: 10000000}
          pricing: {inputPerMillion: "0.15", outputPerMillion: "0.60"}
        - name: gpt-4.1               # one call a minute, then its fallback's deployment serves
          requests: {perMinute: 1, burst: 1}
          pricing: {inputPerMillion: "2.00", outputPerMillion: "8.00"}
          fallback: gpt-4.1-mini
        - name: gpt-4.1-mini
          pricing: {inputPerMillion: "0.40", outputPerMillion: "1.60"}
        - name: llama-3.1-8b
          pricing: {inputPerMillion: "1.00", outputPerMillion: "2.00"}
        upstreams:
        - name: azure
          url: https://contoso.openai.azure.com
          format: azure-openai
          deployments: [{name: prod-4o, model: gpt-4o}, {name: cheap, model: gpt-4o-mini},
                        {name: paused-4o, model: gpt-4o}, {name: paused-4o-eu, model: gpt-4o},
                        {name: big-41, model: gpt-4.1}, {name: small-41, model: gpt-4.1-mini}]
        - {name: vllm, url: "http://vllm.invalid:8000", format: openai}
        - {name: strict, url: "http://old-azure.invalid", format: openai, requestStreamUsage: false}
        - {name: mistral, url: "http://mistral.invalid", format: openai, requestStreamUsage: false,
           outputCapField: max_tokens}
      """;
  static final String KEYS = "rk:{azure-it/providers}:";
  static final String HELD_KEY = "azure-key-held-by-the-sidecar";
  static final String CHAT = "/azure/openai/deployments/%s/chat/completions?api-version=2024-10-21";
  static final String PROMPT = "{\"role\":\"user\",\"content\":\"Say hello to the team\"}";

  static SidecarFixture fixture;
  static StubLlmUpstream stub;
  static Sidecar sidecar;

  @BeforeAll
  static void start() {
    fixture = new SidecarFixture();
    fixture.startRedis();
    stub = StubLlmUpstream.start();
    sidecar = fixture.sidecar(Map.of("RATEKEEPER_UPSTREAM_KEY_AZURE", HELD_KEY), "--policy-file",
        SidecarFixture.policyFile(POLICY).toString(), "--redis", fixture.redisUrl(),
        "--upstream", "azure=" + stub.url(), "--upstream", "vllm=" + stub.url(), "--upstream", "strict=" + stub.url(),
        "--upstream", "mistral=" + stub.url());
  }

  @AfterAll
  static void stop() {
    fixture.close();
    stub.close();
  }

  @BeforeEach
  void freshStub() {
    stub.reset();
    stub.inputTokens = 40;
    stub.outputTokens = 15;
    stub.cacheReadTokens = 0;
  }

  static HttpResponse<String> post(String path, String user, String body) {
    return fixture.post(sidecar, path, body, "X-Ratekeeper-User", user, "api-key", "the-clients-own-key");
  }

  /** What a user's budget counter holds, in micro-dollars, once nothing is in flight. */
  static long spent(String user) {
    return counter(KEYS + "u:" + user + ":budget");
  }

  static long tokens(String user) {
    return counter(KEYS + "u:" + user + ":tpd");
  }

  static long counter(String key) {
    String value = fixture.redis("GET", key);
    return value == null ? 0 : Long.parseLong(value.substring(value.indexOf(':') + 1));
  }

  static void settlesAt(String user, long micros, long tokens) {
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
      assertThat(spent(user)).as("spend of %s", user).isEqualTo(micros);
      assertThat(tokens(user)).as("tokens of %s", user).isEqualTo(tokens);
    });
  }

  @Test
  void aDeploymentCallIsChargedAsItsMappedModelWithTheHeldKeyAndTheApiVersionForwarded() {
    long modelTokensBefore = counter(KEYS + "m:gpt-4o:tpd");

    HttpResponse<String> resp = post(CHAT.formatted("prod-4o"), "az-plain",
        "{\"model\":\"whatever-the-client-says\",\"messages\":[" + PROMPT + "]}");

    assertThat(resp.statusCode()).isEqualTo(200);
    assertThat(resp.body()).contains("\"usage\"");
    assertThat(resp.headers().firstValue("x-ratekeeper-budget-remaining-usd")).isPresent();
    StubLlmUpstream.Recorded seen = stub.lastRequest();
    assertThat(seen.path()).isEqualTo("/openai/deployments/prod-4o/chat/completions");
    assertThat(seen.query()).isEqualTo("api-version=2024-10-21");
    assertThat(seen.headers().getAll("api-key")).containsExactly(HELD_KEY);
    assertThat(seen.headers().contains("authorization")).isFalse();
    assertThat(seen.headers().contains("X-Ratekeeper-User")).isFalse();
    // 40 input x $2.50 + 15 output x $10.00 per million = 100 + 150 micro-dollars, as gpt-4o
    settlesAt("az-plain", 250, 55);
    assertThat(counter(KEYS + "m:gpt-4o:tpd") - modelTokensBefore).isEqualTo(55);
  }

  @Test
  void aStreamedDeploymentCallIsChargedByTheUsageChunkTheSidecarAskedForAndHid() {
    HttpResponse<String> resp = post(CHAT.formatted("cheap"), "az-stream",
        "{\"messages\":[" + PROMPT + "],\"stream\":true}");

    assertThat(resp.statusCode()).isEqualTo(200);
    assertThat(resp.body()).as("Azure's content-filter chunk passes, the usage chunk does not")
        .contains("prompt_filter_results").doesNotContain("prompt_tokens").endsWith("data: [DONE]\n\n");
    assertThat(stub.lastRequest().body()).contains("\"include_usage\":true");
    // 40 x $0.15 + 15 x $0.60 per million = 6 + 9 micro-dollars, as gpt-4o-mini
    settlesAt("az-stream", 15, 55);
  }

  @Test
  void embeddingsAndResponsesFindTheirDeploymentInThePathOrTheBody() {
    HttpResponse<String> embedded = post("/azure/openai/deployments/cheap/embeddings?api-version=2024-10-21",
        "az-embed", "{\"input\":\"hello\"}");
    assertThat(embedded.statusCode()).isEqualTo(200);
    settlesAt("az-embed", 6, 40); // 40 input tokens of gpt-4o-mini

    HttpResponse<String> responses = post("/azure/openai/responses?api-version=2025-03-01-preview", "az-responses",
        "{\"model\":\"prod-4o\",\"input\":\"hello\",\"max_output_tokens\":100}");
    assertThat(responses.statusCode()).isEqualTo(200);
    assertThat(stub.lastRequest().query()).isEqualTo("api-version=2025-03-01-preview");
    settlesAt("az-responses", 250, 55);
  }

  @Test
  void anUnmappedDeploymentIsRefusedInAzuresShapeAndNeverForwarded() {
    HttpResponse<String> resp = post(CHAT.formatted("gpt-4o"), "az-unmapped", "{\"messages\":[" + PROMPT + "]}");

    assertThat(resp.statusCode()).isEqualTo(404);
    assertThat(resp.body()).contains("\"code\":\"DeploymentNotMapped\"").contains("deployment \\\"gpt-4o\\\"");
    assertThat(stub.requestCount()).isZero();
    assertThat(spent("az-unmapped")).isZero();
  }

  @Test
  void azuresNearlySpentQuotaPausesThatDeploymentOnlyNotOthersServingTheSameModel() {
    String body = "{\"messages\":[" + PROMPT + "]}";
    // Azure's rate-limit headers are the deployment's own: each deployment has its quota
    stub.answerHeaders.put("x-ratelimit-limit-requests", "1000");
    stub.answerHeaders.put("x-ratelimit-remaining-requests", "3");
    stub.answerHeaders.put("x-ratelimit-reset-requests", "20s");
    assertThat(post(CHAT.formatted("paused-4o"), "az-pause", body).statusCode()).isEqualTo(200);
    stub.answerHeaders.clear();

    await().atMost(Duration.ofSeconds(2)).untilAsserted(() -> assertThat(post(CHAT.formatted("paused-4o"), "az-pause",
        body).headers().firstValue("x-ratekeeper-limited-by")).contains("upstream.cooldown"));
    long forwarded = stub.requestCount();
    assertThat(post(CHAT.formatted("paused-4o-eu"), "az-pause", body).statusCode()).as("same model, other deployment")
        .isEqualTo(200);
    assertThat(stub.requestCount()).isEqualTo(forwarded + 1);
  }

  @Test
  void aModelFallbackSendsTheCallToTheDeploymentServingTheFallbackModel() {
    String body = "{\"messages\":[" + PROMPT + "]}";
    assertThat(post(CHAT.formatted("big-41"), "az-fallback", body).statusCode()).isEqualTo(200);
    assertThat(stub.lastRequest().path()).isEqualTo("/openai/deployments/big-41/chat/completions");
    settlesAt("az-fallback", 40 * 2 + 15 * 8, 55); // as gpt-4.1

    HttpResponse<String> fellBack = post(CHAT.formatted("big-41"), "az-fallback", body);

    assertThat(fellBack.statusCode()).isEqualTo(200);
    assertThat(fellBack.headers().firstValue("x-ratekeeper-model-fallback")).contains("gpt-4.1 -> gpt-4.1-mini");
    StubLlmUpstream.Recorded seen = stub.lastRequest();
    assertThat(seen.path()).isEqualTo("/openai/deployments/small-41/chat/completions");
    assertThat(seen.query()).isEqualTo("api-version=2024-10-21");
    // then as gpt-4.1-mini: 40 x $0.40 + 15 x $1.60 per million = 16 + 24 micro-dollars more
    settlesAt("az-fallback", 40 * 2 + 15 * 8 + 40, 110);

    // where the body names the deployment (the v1 API), the body is rewritten
    HttpResponse<String> v1 = post("/azure/openai/v1/chat/completions", "az-fallback",
        "{\"model\":\"big-41\",\"messages\":[" + PROMPT + "]}");
    assertThat(v1.headers().firstValue("x-ratekeeper-model-fallback")).contains("gpt-4.1 -> gpt-4.1-mini");
    assertThat(stub.lastRequest().body()).contains("\"model\":\"small-41\"");
  }

  @Test
  void azurePathsAreMadeCanonicalBeforeTheDeploymentIsReadAndForwarded() {
    String body = "{\"messages\":[" + PROMPT + "]}";
    HttpResponse<String> odd = post("/azure/openai/deployments/prod%2D4o/./chat//completions?api-version=2024-10-21",
        "az-canonical", body);
    assertThat(odd.statusCode()).isEqualTo(200);
    assertThat(stub.lastRequest().path()).isEqualTo("/openai/deployments/prod-4o/chat/completions");
    settlesAt("az-canonical", 250, 55); // as gpt-4o

    long forwarded = stub.requestCount();
    assertThat(post("/azure/openai/deployments/prod%2F4o/chat/completions?api-version=2024-10-21", "az-canonical", body)
        .statusCode()).as("an encoded slash").isEqualTo(400);
    assertThat(post("/azure/openai/deployments/x/../../deployments/cheap/chat/completions?api-version=2024-10-21", "az-canonical", body)
        .statusCode()).as("dot segments resolve before the deployment is read").isEqualTo(200);
    assertThat(stub.lastRequest().path()).isEqualTo("/openai/deployments/cheap/chat/completions");
    assertThat(post("/azure/openai/deployments/prod-4o/extensions/chat/completions?api-version=2024-10-21",
        "az-canonical", body).statusCode()).as("not in the table").isEqualTo(403);
    assertThat(stub.requestCount()).isEqualTo(forwarded + 1);
  }

  @Test
  void compatibleServersAreChargedByTheUsageTheyStreamWhereverTheyPutIt() {
    String body = "{\"model\":\"llama-3.1-8b\",\"stream\":true,\"messages\":[" + PROMPT + "]}";
    // 40 x $1 + 15 x $2 per million = 70 micro-dollars each
    stub.dialect = OpenAiDialect.USAGE_WITH_LAST_CHOICE;
    HttpResponse<String> lastChoice = post("/vllm/v1/chat/completions", "compat-last-choice", body);
    assertThat(lastChoice.statusCode()).isEqualTo(200);
    assertThat(lastChoice.body()).as("the chunk carrying the last choice is forwarded whole")
        .contains("\"finish_reason\":\"stop\"").contains("\"usage\"");
    settlesAt("compat-last-choice", 70, 55);

    // Mistral refuses stream_options and max_completion_tokens: its upstream asks for neither, and the cap the
    // sidecar writes for the capped tier goes into max_tokens
    stub.dialect = OpenAiDialect.MISTRAL;
    HttpResponse<String> mistral = post("/mistral/v1/chat/completions", "compat-mistral", body);
    assertThat(mistral.statusCode()).as(mistral.body()).isEqualTo(200);
    assertThat(stub.lastRequest().body()).contains("\"max_tokens\":100").doesNotContain("stream_options")
        .doesNotContain("max_completion_tokens");
    settlesAt("compat-mistral", 70, 55);

    stub.dialect = OpenAiDialect.GROQ;
    HttpResponse<String> groq = post("/vllm/v1/chat/completions", "compat-groq", body);
    assertThat(groq.statusCode()).isEqualTo(200);
    assertThat(groq.body()).contains("x_groq");
    settlesAt("compat-groq", 70, 55);
  }

  @Test
  void aStreamWithoutUsageIsChargedAtTheEstimateAndCounted() throws Exception {
    String body = "{\"model\":\"llama-3.1-8b\",\"stream\":true,\"messages\":[" + PROMPT + "]}";
    long input = TokenEstimator.estimateInput(UpstreamFormat.OPENAI, "llama-3.1-8b", new ObjectMapper().readTree(body));
    long output = (5 * StubLlmUpstream.DELTA_TEXT.length() + 2) / 3; // the text forwarded, 3 characters a token
    double before = fixture.metric(sidecar, "ratekeeper_estimated_charges_total", "reason", "no_usage");

    stub.dialect = OpenAiDialect.NO_STREAM_USAGE;
    HttpResponse<String> ignored = post("/vllm/v1/chat/completions", "compat-no-usage", body);
    assertThat(ignored.statusCode()).isEqualTo(200);
    assertThat(ignored.body()).doesNotContain("usage").endsWith("data: [DONE]\n\n");
    settlesAt("compat-no-usage", input * 1 + output * 2, input + output);

    // a server that refuses stream_options: the upstream says not to ask, and the call is charged the same way
    stub.dialect = OpenAiDialect.REJECTS_STREAM_OPTIONS;
    HttpResponse<String> strict = post("/strict/v1/chat/completions", "compat-strict", body);
    assertThat(strict.statusCode()).isEqualTo(200);
    assertThat(stub.lastRequest().body()).doesNotContain("stream_options");
    settlesAt("compat-strict", input * 1 + output * 2, input + output);

    await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(
        fixture.metric(sidecar, "ratekeeper_estimated_charges_total", "reason", "no_usage") - before).isEqualTo(2));
  }
}
