package dev.ratekeeper.sidecar.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.identity.Caller;
import dev.ratekeeper.sidecar.wire.AzureDeployments;
import dev.ratekeeper.sidecar.wire.Endpoint;
import dev.ratekeeper.sidecar.wire.MeteredRequest;
import dev.ratekeeper.sidecar.wire.ProviderError;
import dev.ratekeeper.sidecar.wire.RequestParser;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class AdmissionPlanTest {
  static final CompiledPolicy POLICY = compile("""
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: plan, namespace: t}
      spec:
        tiers:
        - name: free
          tokens: {maxPerRequest: 2000}
          models: ["claude-haiku-4-5", "gpt-4o-mini"]
          budget: {usd: "1.00", period: Monthly}
        - name: pro
        models:
        - name: claude-haiku-4-5
          pricing: {inputPerMillion: "1.00", outputPerMillion: "5.00"}
        - name: claude-opus-4-5
          pricing: {inputPerMillion: "5.00", outputPerMillion: "25.00"}
        - name: claude-sonnet-4-6
          pricing: {inputPerMillion: "3.00", outputPerMillion: "15.00"}
        - name: gpt-4o-mini
          pricing: {inputPerMillion: "0.15", outputPerMillion: "0.60"}
      """);

  static CompiledPolicy compile(String yaml) {
    return dev.ratekeeper.sidecar.limiter.TestPolicy.compile(yaml);
  }

  static MeteredRequest request(Endpoint endpoint, String json) {
    return ((RequestParser.Parsed) RequestParser.parse(endpoint, json.getBytes(StandardCharsets.UTF_8))).request();
  }

  @Test
  void nAnswersMultiplyTheOutputReservationAndCountAgainstMaxPerRequest() {
    AdmissionPlan.Result four = AdmissionPlan.plan(POLICY, new Caller("u", "free"),
        request(Endpoint.OPENAI_CHAT, "{\"model\":\"gpt-4o-mini\",\"max_tokens\":400,\"n\":4}"));
    assertThat(((AdmissionPlan.Planned) four).outputCap()).isEqualTo(1600);

    AdmissionPlan.Result tooMany = AdmissionPlan.plan(POLICY, new Caller("u", "free"),
        request(Endpoint.OPENAI_CHAT, "{\"model\":\"gpt-4o-mini\",\"max_tokens\":1000,\"n\":4}"));
    assertThat(tooMany).isInstanceOf(AdmissionPlan.Refused.class);
    assertThat(((AdmissionPlan.Refused) tooMany).error().message()).contains("× 4 answers").contains("maxPerRequest 2000");

    // no cap named: each answer gets its share of maxPerRequest
    MeteredRequest uncapped = request(Endpoint.OPENAI_COMPLETIONS,
        "{\"model\":\"gpt-4o-mini\",\"prompt\":\"hi\",\"best_of\":8}");
    AdmissionPlan.Planned shared = (AdmissionPlan.Planned) AdmissionPlan.plan(POLICY, new Caller("u", "free"), uncapped);
    assertThat(shared.request().outputCap()).as("the cap written into the forwarded request").isEqualTo(250);
    assertThat(shared.outputCap()).isEqualTo(2000);
  }

  @Test
  void azureOnYourDataIsRefusedUnlessThePolicyAllowsItsGroup() {
    String azure = """
        apiVersion: ratekeeper.dev/v1alpha1
        kind: RateLimitPolicy
        metadata: {name: plan-azure, namespace: t}
        spec:
          tiers:
          - name: pro
          models:
          - name: gpt-4o-mini
            pricing: {inputPerMillion: "0.15", outputPerMillion: "0.60"}
          upstreams:
          - {name: azure, url: "https://contoso.openai.azure.com", format: azure-openai,
             deployments: [{name: mini, model: gpt-4o-mini}]}
          %s""";
    CompiledPolicy refusing = compile(azure.formatted(""));
    CompiledPolicy allowing = compile(azure.formatted("allowUnmeterable: [OnYourData]"));
    String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":10,\"data_sources\":"
        + "[{\"type\":\"azure_search\",\"parameters\":{\"endpoint\":\"https://s.search.windows.net\",\"index_name\":\"d\"}}]}";

    AdmissionPlan.Result refused = AdmissionPlan.plan(refusing, new Caller("u", "pro"), azure(refusing, body));
    assertThat(refused).isInstanceOf(AdmissionPlan.Refused.class);
    ProviderError error = ((AdmissionPlan.Refused) refused).error();
    assertThat(error.status()).isEqualTo(400);
    assertThat(error.message()).startsWith("data_sources:").contains("allowUnmeterable: [OnYourData]");
    assertThat(AdmissionPlan.plan(refusing, new Caller("u", "pro"), azure(refusing, body.replace("data_sources", "user"))))
        .as("without data_sources").isInstanceOf(AdmissionPlan.Planned.class);

    AdmissionPlan.Result allowed = AdmissionPlan.plan(allowing, new Caller("u", "pro"), azure(allowing, body));
    assertThat(allowed).as("allowed: the chat call's own tokens are still metered").isInstanceOf(AdmissionPlan.Planned.class);
    assertThat(((AdmissionPlan.Planned) allowed).outputCap()).isEqualTo(10);
  }

  static MeteredRequest azure(CompiledPolicy policy, String json) {
    AzureDeployments.Target target = AzureDeployments.Target.of(policy.upstream("azure").orElseThrow(),
        "/openai/deployments/mini/chat/completions");
    return ((RequestParser.Parsed) RequestParser.parse(target, Endpoint.OPENAI_CHAT,
        json.getBytes(StandardCharsets.UTF_8))).request();
  }

  @Test
  void aBatchIsAdmittedAsTheSumOfItsRequestsAtTheBatchPrice() {
    String batch = "{\"requests\":[" + ("{\"custom_id\":\"x\",\"params\":{\"model\":\"claude-sonnet-4-6\","
        + "\"max_tokens\":1000,\"messages\":[{\"role\":\"user\",\"content\":\"" + "y".repeat(2994) + "\"}]}},").repeat(3);
    batch = batch.substring(0, batch.length() - 1) + "]}";
    AdmissionPlan.Planned planned = (AdmissionPlan.Planned) AdmissionPlan.plan(POLICY, new Caller("u", "pro"),
        request(Endpoint.ANTHROPIC_MESSAGE_BATCHES, batch));
    // each: "user\n" + 2994 chars + "\n" = 3000 characters -> 1000 tokens + 4 framing = 1004 input, 1000 output
    assertThat(planned.inputEstimate()).isEqualTo(3 * 1004);
    assertThat(planned.outputCap()).isEqualTo(3 * 1000);
    assertThat(planned.tokens()).isEqualTo(3 * 2004);
    // list price of one: 1004 × $3/M + 1000 × $15/M = 3012 + 15000 micro-dollars; the batch pays half of three
    assertThat(planned.costMicros()).isEqualTo(3 * (3012 + 15000) / 2);
    assertThat(planned.settleAtReservation()).isTrue();
  }

  @Test
  void everyRequestOfABatchIsCheckedAgainstTheTier() {
    String opus = "{\"requests\":[{\"params\":{\"model\":\"claude-haiku-4-5\",\"max_tokens\":10,\"messages\":[]}},"
        + "{\"params\":{\"model\":\"claude-opus-4-5\",\"max_tokens\":64000,\"messages\":[]}}]}";
    AdmissionPlan.Result refused = AdmissionPlan.plan(POLICY, new Caller("u", "free"),
        request(Endpoint.ANTHROPIC_MESSAGE_BATCHES, opus));
    assertThat(((AdmissionPlan.Refused) refused).error().message()).startsWith("requests[1]: model \"claude-opus-4-5\"");

    String big = "{\"requests\":[{\"params\":{\"model\":\"claude-haiku-4-5\",\"max_tokens\":64000,\"messages\":[]}}]}";
    assertThat(((AdmissionPlan.Refused) AdmissionPlan.plan(POLICY, new Caller("u", "free"),
        request(Endpoint.ANTHROPIC_MESSAGE_BATCHES, big))).error().message()).contains("maxPerRequest 2000");

    String mixed = "{\"requests\":[{\"params\":{\"model\":\"claude-haiku-4-5\",\"max_tokens\":10,\"messages\":[]}},"
        + "{\"params\":{\"model\":\"claude-sonnet-4-6\",\"max_tokens\":10,\"messages\":[]}}]}";
    assertThat(((AdmissionPlan.Refused) AdmissionPlan.plan(POLICY, new Caller("u", "pro"),
        request(Endpoint.ANTHROPIC_MESSAGE_BATCHES, mixed))).error().message()).contains("one model");
  }

  @Test
  void aDatedAliasIsPricedAndAllowedLikeItsModel() {
    AdmissionPlan.Planned planned = (AdmissionPlan.Planned) AdmissionPlan.plan(POLICY, new Caller("u", "free"),
        request(Endpoint.ANTHROPIC_MESSAGES, "{\"model\":\"claude-haiku-4-5-20251001\",\"max_tokens\":100}"));
    assertThat(planned.model().pattern()).isEqualTo("claude-haiku-4-5");
    assertThat(planned.costMicros()).isPositive();
  }
}
