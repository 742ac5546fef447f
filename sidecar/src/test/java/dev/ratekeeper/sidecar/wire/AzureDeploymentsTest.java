package dev.ratekeeper.sidecar.wire;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.policy.compile.CompiledUpstream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Azure OpenAI calls are governed by the model their deployment serves, wherever the deployment is named. */
class AzureDeploymentsTest {
  private static final CompiledUpstream AZURE = new CompiledUpstream("azure", "https://contoso.openai.azure.com",
      UpstreamFormat.AZURE_OPENAI, null, null, Map.of("prod-4o", "gpt-4o", "mini", "gpt-4o-mini", "also-4o", "gpt-4o"),
      false, null, null);
  private static final CompiledUpstream NAMED = new CompiledUpstream("azure", "https://contoso.openai.azure.com",
      UpstreamFormat.AZURE_OPENAI, null, null, Map.of("prod-4o", "gpt-4o"), true, false, "max_tokens");
  private static final CompiledUpstream OPENAI = new CompiledUpstream("openai", "https://api.openai.com",
      UpstreamFormat.OPENAI, null, null);

  private static RequestParser.Result parse(CompiledUpstream upstream, String path, Endpoint endpoint, String json) {
    return RequestParser.parse(AzureDeployments.Target.of(upstream, path), endpoint,
        json.getBytes(StandardCharsets.UTF_8));
  }

  private static MeteredRequest ok(CompiledUpstream upstream, String path, Endpoint endpoint, String json) {
    RequestParser.Result result = parse(upstream, path, endpoint, json);
    assertThat(result).isInstanceOf(RequestParser.Parsed.class);
    return ((RequestParser.Parsed) result).request();
  }

  @Test
  void thePathsDeploymentNamesTheModelWhateverTheBodySays() {
    MeteredRequest call = ok(AZURE, "/openai/deployments/prod-4o/chat/completions", Endpoint.OPENAI_CHAT,
        "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

    assertThat(call.deployment()).isEqualTo("prod-4o");
    assertThat(call.model()).isEqualTo("gpt-4o");
    assertThat(call.originalModel()).isEqualTo("gpt-4o");
    assertThat(call.rewritten()).isFalse();
  }

  @Test
  void aDeploymentPathNeedsNoModelInTheBody() {
    MeteredRequest call = ok(AZURE, "/openai/deployments/mini/embeddings", Endpoint.OPENAI_EMBEDDINGS,
        "{\"input\":\"hello\"}");

    assertThat(call.model()).isEqualTo("gpt-4o-mini");
    assertThat(call.inputEstimate()).isPositive();
  }

  @Test
  void pathsWithoutADeploymentTakeItFromTheBodysModel() {
    MeteredRequest responses = ok(AZURE, "/openai/responses", Endpoint.OPENAI_RESPONSES,
        "{\"model\":\"mini\",\"input\":\"hi\"}");
    assertThat(responses.deployment()).isEqualTo("mini");
    assertThat(responses.model()).isEqualTo("gpt-4o-mini");

    RequestParser.Result missing = parse(AZURE, "/openai/v1/chat/completions", Endpoint.OPENAI_CHAT, "{\"messages\":[]}");
    assertThat(((RequestParser.Invalid) missing).error().message()).startsWith("model: field required");
  }

  @Test
  void anUnmappedDeploymentIsA404InAzuresShapeNamingWhatToChange() {
    RequestParser.Result result = parse(AZURE, "/openai/deployments/gpt-4o/chat/completions", Endpoint.OPENAI_CHAT,
        "{\"messages\":[]}");

    ProviderError error = ((RequestParser.Invalid) result).error();
    assertThat(error.status()).isEqualTo(404);
    assertThat(error.body(UpstreamFormat.AZURE_OPENAI))
        .contains("\"code\":\"DeploymentNotMapped\"")
        .contains("Azure OpenAI deployment \\\"gpt-4o\\\" is not mapped to a model in upstream \\\"azure\\\"")
        .contains("unmappedDeployments: DeploymentNameIsModel");
    assertThat(parse(AZURE, "/openai/v1/responses", Endpoint.OPENAI_RESPONSES, "{\"model\":\"other\"}"))
        .isInstanceOf(RequestParser.Invalid.class);
  }

  @Test
  void deploymentNamesAreModelsWhenThePolicySaysSo() {
    MeteredRequest call = ok(NAMED, "/openai/deployments/gpt-4.1/chat/completions", Endpoint.OPENAI_CHAT,
        "{\"messages\":[]}");

    assertThat(call.model()).isEqualTo("gpt-4.1");
    assertThat(ok(NAMED, "/openai/deployments/prod-4o/chat/completions", Endpoint.OPENAI_CHAT, "{}").model())
        .isEqualTo("gpt-4o");
  }

  @Test
  void streamUsageIsRequestedUnlessTheUpstreamSaysNot() {
    String body = "{\"messages\":[],\"stream\":true}";
    MeteredRequest asks = ok(AZURE, "/openai/deployments/prod-4o/chat/completions", Endpoint.OPENAI_CHAT, body);
    asks.requestStreamUsage();
    assertThat(asks.injectedUsageRequest()).isTrue();
    assertThat(new String(asks.toBytes(), StandardCharsets.UTF_8)).contains("\"include_usage\":true");

    MeteredRequest refuses = ok(NAMED, "/openai/deployments/prod-4o/chat/completions", Endpoint.OPENAI_CHAT, body);
    refuses.requestStreamUsage();
    assertThat(refuses.injectedUsageRequest()).isFalse();
    assertThat(refuses.rewritten()).isFalse();
  }

  @Test
  void otherFormatsKeepTheBodysModel() {
    MeteredRequest call = ok(OPENAI, "/v1/chat/completions", Endpoint.OPENAI_CHAT, "{\"model\":\"gpt-4o\"}");
    assertThat(call.deployment()).isNull();
    assertThat(call.model()).isEqualTo("gpt-4o");
    assertThat(call.canServe("anything")).isTrue();
    assertThat(AzureDeployments.Target.of(OPENAI, "/openai/deployments/x/chat/completions").pathDeployment()).isNull();
  }

  @Test
  void readsTheDeploymentSegmentOnly() {
    assertThat(AzureDeployments.fromPath("/openai/deployments/prod-4o/chat/completions")).isEqualTo("prod-4o");
    assertThat(AzureDeployments.fromPath("/openai/deployments/prod-4o")).isEqualTo("prod-4o");
    assertThat(AzureDeployments.fromPath("/openai/deployments/")).isNull();
    assertThat(AzureDeployments.fromPath("/openai/v1/chat/completions")).isNull();
  }

  @Test
  void aFallbackMovesAPathCallToADeploymentServingTheFallbackModel() {
    MeteredRequest call = ok(AZURE, "/openai/deployments/prod-4o/chat/completions", Endpoint.OPENAI_CHAT,
        "{\"messages\":[]}");
    String routed = "/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21";

    assertThat(call.canServe("gpt-4o-mini")).isTrue();
    assertThat(call.canServe("gpt-4.1")).as("no deployment serves it").isFalse();
    call.setModel("gpt-4o-mini");
    assertThat(call.model()).isEqualTo("gpt-4o-mini");
    assertThat(call.deployment()).isEqualTo("mini");
    assertThat(call.forwardPath(routed)).isEqualTo("/openai/deployments/mini/chat/completions?api-version=2024-10-21");
    assertThat(call.rewritten()).as("the body is forwarded as sent").isFalse();
    assertThat(call.originalModel()).isEqualTo("gpt-4o");

    // back to the model it asked for: the deployment it named, not another serving the same model
    call.setModel("gpt-4o");
    assertThat(call.deployment()).isEqualTo("prod-4o");
    assertThat(call.forwardPath(routed)).isEqualTo(routed);
  }

  @Test
  void aFallbackRewritesTheBodysDeploymentWhereTheBodyNamesIt() throws Exception {
    MeteredRequest call = ok(AZURE, "/openai/v1/chat/completions", Endpoint.OPENAI_CHAT,
        "{\"model\":\"prod-4o\",\"messages\":[]}");

    call.setModel("gpt-4o-mini");

    assertThat(call.rewritten()).isTrue();
    assertThat(new String(call.toBytes(), StandardCharsets.UTF_8)).contains("\"model\":\"mini\"");
    assertThat(call.forwardPath("/openai/v1/chat/completions")).isEqualTo("/openai/v1/chat/completions");
  }

  @Test
  void withDeploymentNamesAsModelsAnyFallbackModelHasADeployment() {
    MeteredRequest call = ok(NAMED, "/openai/deployments/gpt-4.1/chat/completions", Endpoint.OPENAI_CHAT, "{}");

    assertThat(call.canServe("gpt-4o")).isTrue();
    call.setModel("gpt-4o");
    assertThat(call.deployment()).as("mapped first").isEqualTo("prod-4o");
    call.setModel("gpt-4.1-mini");
    assertThat(call.forwardPath("/openai/deployments/gpt-4.1/chat/completions"))
        .isEqualTo("/openai/deployments/gpt-4.1-mini/chat/completions");
  }

  @Test
  void anOutputCapTheSidecarWritesGoesIntoTheUpstreamsField() throws Exception {
    MeteredRequest openai = ok(AZURE, "/openai/deployments/prod-4o/chat/completions", Endpoint.OPENAI_CHAT, "{}");
    openai.setOutputCap(500);
    assertThat(new String(openai.toBytes(), StandardCharsets.UTF_8)).contains("\"max_completion_tokens\":500");

    MeteredRequest older = ok(NAMED, "/openai/deployments/prod-4o/chat/completions", Endpoint.OPENAI_CHAT, "{}");
    older.setOutputCap(500);
    assertThat(new String(older.toBytes(), StandardCharsets.UTF_8)).contains("\"max_tokens\":500")
        .doesNotContain("max_completion_tokens");

    // the field the client used is kept, and other endpoints keep theirs
    MeteredRequest named = ok(NAMED, "/openai/deployments/prod-4o/chat/completions", Endpoint.OPENAI_CHAT,
        "{\"max_completion_tokens\":9000}");
    named.setOutputCap(500);
    assertThat(new String(named.toBytes(), StandardCharsets.UTF_8)).contains("\"max_completion_tokens\":500");
    MeteredRequest responses = ok(NAMED, "/openai/responses", Endpoint.OPENAI_RESPONSES, "{\"model\":\"prod-4o\"}");
    responses.setOutputCap(500);
    assertThat(new String(responses.toBytes(), StandardCharsets.UTF_8)).contains("\"max_output_tokens\":500");
  }
}
