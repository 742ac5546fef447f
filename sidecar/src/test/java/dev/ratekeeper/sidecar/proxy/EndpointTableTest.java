package dev.ratekeeper.sidecar.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.UnmeterableEndpoint;
import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.sidecar.wire.Endpoint;
import dev.ratekeeper.sidecar.wire.EndpointTable;
import dev.ratekeeper.sidecar.wire.EndpointTable.Free;
import dev.ratekeeper.sidecar.wire.EndpointTable.Metered;
import dev.ratekeeper.sidecar.wire.EndpointTable.Unknown;
import dev.ratekeeper.sidecar.wire.EndpointTable.Unmeterable;
import dev.ratekeeper.sidecar.wire.EndpointTable.WrongMethod;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The endpoint table of docs/endpoints.md: billed endpoints are metered or refused, never "requests only". */
class EndpointTableTest {
  private static final UpstreamFormat A = UpstreamFormat.ANTHROPIC;
  private static final UpstreamFormat O = UpstreamFormat.OPENAI;
  private static final UpstreamFormat Z = UpstreamFormat.AZURE_OPENAI;

  @Test
  void llmCallsAndAnthropicBatchesAreMetered() {
    assertThat(EndpointTable.classify(A, "POST", "/v1/messages")).isEqualTo(new Metered(Endpoint.ANTHROPIC_MESSAGES));
    assertThat(EndpointTable.classify(A, "POST", "/v1/messages/batches"))
        .isEqualTo(new Metered(Endpoint.ANTHROPIC_MESSAGE_BATCHES));
    assertThat(EndpointTable.classify(O, "POST", "/v1/chat/completions")).isEqualTo(new Metered(Endpoint.OPENAI_CHAT));
    assertThat(EndpointTable.classify(O, "POST", "/v1/responses")).isEqualTo(new Metered(Endpoint.OPENAI_RESPONSES));
    assertThat(EndpointTable.classify(O, "POST", "/v1/completions")).isEqualTo(new Metered(Endpoint.OPENAI_COMPLETIONS));
    assertThat(EndpointTable.classify(O, "POST", "/v1/embeddings")).isEqualTo(new Metered(Endpoint.OPENAI_EMBEDDINGS));
  }

  @Test
  void billedEndpointsThatCannotBeMeteredAreNamedByGroup() {
    assertThat(EndpointTable.classify(O, "POST", "/v1/batches")).isEqualTo(new Unmeterable(UnmeterableEndpoint.Batches));
    assertThat(EndpointTable.classify(O, "POST", "/v1/files")).isEqualTo(new Unmeterable(UnmeterableEndpoint.Files));
    assertThat(EndpointTable.classify(A, "POST", "/v1/files")).isEqualTo(new Unmeterable(UnmeterableEndpoint.Files));
    assertThat(EndpointTable.classify(O, "POST", "/v1/images/generations"))
        .isEqualTo(new Unmeterable(UnmeterableEndpoint.Images));
    assertThat(EndpointTable.classify(O, "POST", "/v1/audio/speech")).isEqualTo(new Unmeterable(UnmeterableEndpoint.Audio));
    assertThat(EndpointTable.classify(O, "GET", "/v1/realtime")).isEqualTo(new Unmeterable(UnmeterableEndpoint.Realtime));
    assertThat(EndpointTable.classify(O, "POST", "/v1/fine_tuning/jobs"))
        .isEqualTo(new Unmeterable(UnmeterableEndpoint.FineTuning));
  }

  @Test
  void freeReadOnlyEndpointsFollowUnmeteredPaths() {
    assertThat(EndpointTable.classify(O, "GET", "/v1/models")).isInstanceOf(Free.class);
    assertThat(EndpointTable.classify(O, "HEAD", "/v1/models/gpt-4o")).isInstanceOf(Free.class);
    assertThat(EndpointTable.classify(A, "POST", "/v1/messages/count_tokens")).isInstanceOf(Free.class);
    assertThat(EndpointTable.classify(A, "GET", "/v1/messages/batches/msgbatch_1/results")).isInstanceOf(Free.class);
    assertThat(EndpointTable.classify(O, "GET", "/v1/batches/batch_1")).isInstanceOf(Free.class);
    assertThat(EndpointTable.classify(O, "POST", "/v1/moderations")).isInstanceOf(Free.class);
  }

  @Test
  void knownPathsTakeOnlyTheirMethodsAndUnknownPathsOnlyReads() {
    assertThat(EndpointTable.classify(A, "GET", "/v1/messages")).isEqualTo(new WrongMethod(Set.of("POST")));
    assertThat(EndpointTable.classify(A, "PUT", "/v1/messages/batches"))
        .isEqualTo(new WrongMethod(Set.of("GET", "HEAD", "POST")));
    assertThat(EndpointTable.classify(O, "POST", "/v1/models")).isEqualTo(new WrongMethod(Set.of("GET", "HEAD")));
    assertThat(EndpointTable.classify(A, "POST", "/V1/Messages")).isEqualTo(new Unknown(false));
    assertThat(EndpointTable.classify(O, "POST", "/v1/chat/completions/x/y")).isEqualTo(new Unknown(false));
    assertThat(EndpointTable.classify(O, "GET", "/v1/organization/usage")).isEqualTo(new Unknown(true));
    // the formats' tables are apart: an Anthropic path on an OpenAI upstream is unknown there
    assertThat(EndpointTable.classify(O, "POST", "/v1/messages")).isEqualTo(new Unknown(false));
  }

  @Test
  void azureDeploymentCallsAreTheOpenAiEndpointsOfTheSameWire() {
    assertThat(EndpointTable.classify(Z, "POST", "/openai/deployments/prod-4o/chat/completions"))
        .isEqualTo(new Metered(Endpoint.OPENAI_CHAT));
    assertThat(EndpointTable.classify(Z, "POST", "/openai/deployments/legacy.v1/completions"))
        .isEqualTo(new Metered(Endpoint.OPENAI_COMPLETIONS));
    assertThat(EndpointTable.classify(Z, "POST", "/openai/deployments/embed_3/embeddings"))
        .isEqualTo(new Metered(Endpoint.OPENAI_EMBEDDINGS));
    assertThat(EndpointTable.classify(Z, "POST", "/openai/responses")).isEqualTo(new Metered(Endpoint.OPENAI_RESPONSES));
    assertThat(EndpointTable.classify(Z, "POST", "/openai/v1/responses")).isEqualTo(new Metered(Endpoint.OPENAI_RESPONSES));
    assertThat(EndpointTable.classify(Z, "POST", "/openai/v1/chat/completions")).isEqualTo(new Metered(Endpoint.OPENAI_CHAT));
    assertThat(EndpointTable.classify(Z, "POST", "/openai/v1/embeddings")).isEqualTo(new Metered(Endpoint.OPENAI_EMBEDDINGS));
  }

  @Test
  void azureBilledUnmeterableFreeAndUnknownPathsFollowTheSameRules() {
    assertThat(EndpointTable.classify(Z, "POST", "/openai/deployments/dalle/images/generations"))
        .isEqualTo(new Unmeterable(UnmeterableEndpoint.Images));
    assertThat(EndpointTable.classify(Z, "POST", "/openai/deployments/whisper/audio/transcriptions"))
        .isEqualTo(new Unmeterable(UnmeterableEndpoint.Audio));
    assertThat(EndpointTable.classify(Z, "POST", "/openai/files")).isEqualTo(new Unmeterable(UnmeterableEndpoint.Files));
    assertThat(EndpointTable.classify(Z, "POST", "/openai/v1/batches")).isEqualTo(new Unmeterable(UnmeterableEndpoint.Batches));
    assertThat(EndpointTable.classify(Z, "GET", "/openai/realtime")).isEqualTo(new Unmeterable(UnmeterableEndpoint.Realtime));
    assertThat(EndpointTable.classify(Z, "GET", "/openai/models")).isInstanceOf(Free.class);
    assertThat(EndpointTable.classify(Z, "GET", "/openai/deployments/prod-4o")).isInstanceOf(Free.class);
    assertThat(EndpointTable.classify(Z, "GET", "/openai/v1/responses/resp_1")).isInstanceOf(Free.class);
    assertThat(EndpointTable.classify(Z, "GET", "/openai/deployments/prod-4o/chat/completions"))
        .isEqualTo(new WrongMethod(Set.of("POST")));
    // the "on your data" extension is billed and not in the table: refused
    assertThat(EndpointTable.classify(Z, "POST", "/openai/deployments/prod-4o/extensions/chat/completions"))
        .isEqualTo(new Unknown(false));
    // the tables stay apart: OpenAI's bare paths are unknown on Azure, Azure's on OpenAI
    assertThat(EndpointTable.classify(Z, "POST", "/v1/chat/completions")).isEqualTo(new Unknown(false));
    assertThat(EndpointTable.classify(O, "POST", "/openai/deployments/prod-4o/chat/completions"))
        .isEqualTo(new Unknown(false));
    assertThat(EndpointTable.formatOfBarePath("/openai/deployments/prod-4o/chat/completions")).isEmpty();
  }
}
