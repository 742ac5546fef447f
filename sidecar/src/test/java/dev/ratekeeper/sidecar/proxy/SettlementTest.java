package dev.ratekeeper.sidecar.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.identity.Caller;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.limiter.ReconcileResult;
import dev.ratekeeper.sidecar.metrics.SidecarMetrics;
import dev.ratekeeper.sidecar.time.ManualClock;
import dev.ratekeeper.sidecar.wire.Endpoint;
import dev.ratekeeper.sidecar.wire.SseUsageTracker;
import io.micrometer.core.instrument.Counter;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What a call is charged, decided by its settlement from how the exchange ended and what the answer
 * showed of its usage (the forward stage only reports both).
 */
class SettlementTest {
  private static final CompiledPolicy POLICY = AdmissionPlanTest.POLICY;
  private static final String MESSAGES = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":300,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}]}";
  private static final String JSON_WITH_USAGE = "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],"
      + "\"usage\":{\"input_tokens\":12,\"output_tokens\":7}}";

  private final Recording store = new Recording();
  private final SidecarMetrics metrics = new SidecarMetrics();

  /** The reconciles asked for; every other call fails (a settlement makes none). */
  private static final class Recording implements LimiterStore {
    final List<ReconcileRequest> reconciles = new ArrayList<>();

    @Override
    public Future<Decision> admit(AdmitRequest request) {
      return Future.failedFuture("not used");
    }

    @Override
    public Future<ReconcileResult> reconcile(ReconcileRequest request) {
      reconciles.add(request);
      return Future.succeededFuture(new ReconcileResult(ReconcileResult.Outcome.RECONCILED, 0, 0, 0));
    }

    @Override
    public Future<Void> refund(AdmitRequest admitted) {
      return Future.failedFuture("not used");
    }
  }

  private Settlement settlement(Endpoint endpoint, String json) {
    AdmissionPlan.Planned planned = (AdmissionPlan.Planned) AdmissionPlan.plan(POLICY, new Caller("u", "pro"),
        AdmissionPlanTest.request(endpoint, json));
    Route route = Route.resolve(POLICY, "POST", (CanonicalPath.Canonical) CanonicalPath.of("/anthropic" + endpoint.path()))
        .orElseThrow();
    RequestPlan plan = RequestPlan.first(POLICY, route, new Caller("u", "pro"), planned, 0, null, false);
    AdmitRequest ask = AdmitRequest.metered(POLICY, "r1", "u", planned.tier(), planned.model(), planned.tokens(),
        planned.costMicros());
    return new Settlement(store, metrics, new OutputHistory(), new ManualClock(), ask, plan);
  }

  private Settlement messages() {
    return settlement(Endpoint.ANTHROPIC_MESSAGES, MESSAGES);
  }

  private static ResponseTail tail(String body) {
    ResponseTail tail = new ResponseTail(Endpoint.ANTHROPIC_MESSAGES);
    tail.add(Buffer.buffer(body));
    return tail;
  }

  private ReconcileRequest only() {
    assertThat(store.reconciles).hasSize(1);
    return store.reconciles.get(0);
  }

  private double estimated(String reason) {
    Counter c = metrics.registry().find("ratekeeper.estimated.charges").tag("reason", reason).counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void anAnswerWithTheProvidersUsageIsChargedThatUsage() {
    messages().answered(200, tail(JSON_WITH_USAGE));
    assertThat(only().actualTokens()).isEqualTo(19);
    assertThat(only().estimated()).isFalse();
    assertThat(only().actualCostMicros()).as("12 in at $1/M + 7 out at $5/M").isEqualTo(12 + 35);
  }

  @Test
  void aSuccessWithoutUsageIsChargedItsReservationAsAnEstimate() {
    Settlement s = messages();
    s.answered(200, tail("{\"type\":\"message\",\"content\":[]}"));
    assertThat(only().actualTokens()).isEqualTo(s.reservation().totalTokens()).isGreaterThan(300);
    assertThat(only().estimated()).isTrue();
    assertThat(estimated("no_usage")).isEqualTo(1);
  }

  @Test
  void anErrorAnswerWithoutUsageIsChargedNothing() {
    messages().answered(400, tail("{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\"}}"));
    assertThat(only().actualTokens()).isZero();
    assertThat(only().estimated()).isFalse();
    assertThat(estimated("no_usage")).isZero();
  }

  @Test
  void aStreamWithoutUsageIsChargedTheInputEstimateAndTheCapOrTheTextForwarded() {
    Settlement s = messages();
    SseUsageTracker stream = new SseUsageTracker(Endpoint.ANTHROPIC_MESSAGES, false);
    stream.accept(("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        + "\"delta\":{\"type\":\"text_delta\",\"text\":\"some words\"}}\n\n").getBytes(StandardCharsets.UTF_8));
    s.answered(200, stream);
    long inputEstimate = s.reservation().input();
    assertThat(only().actualTokens()).isEqualTo(inputEstimate + 300);
    assertThat(only().estimated()).isTrue();
  }

  @Test
  void aCallCutShortBeforeAnyAnswerIsChargedItsInputEstimate() {
    Settlement s = messages();
    s.cutShort(0, null);
    assertThat(only().actualTokens()).isEqualTo(s.reservation().input());
    assertThat(only().estimated()).isTrue();
    assertThat(estimated("cut_short")).isEqualTo(1);
  }

  @Test
  void aStreamCutShortAfterItsUsageIsChargedThatUsageNotAnEstimate() {
    Settlement s = messages();
    SseUsageTracker stream = new SseUsageTracker(Endpoint.ANTHROPIC_MESSAGES, false);
    stream.accept(("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":"
        + "{\"input_tokens\":40,\"output_tokens\":1}}}\n\n").getBytes(StandardCharsets.UTF_8));
    s.cutShort(200, stream);
    assertThat(only().actualTokens()).isEqualTo(41);
    assertThat(estimated("cut_short")).isZero();
  }

  @Test
  void anUpstreamFailureOrAThrottleIsChargedNothing() {
    messages().failed();
    assertThat(only().actualTokens()).isZero();
    assertThat(estimated("upstream_failed")).isEqualTo(1);

    store.reconciles.clear();
    messages().throttled();
    assertThat(only().actualTokens()).isZero();
    assertThat(only().estimated()).isFalse();
  }

  @Test
  void onlyTheFirstReportSettles() {
    Settlement s = messages();
    s.answered(200, tail(JSON_WITH_USAGE));
    s.cutShort(0, null);
    s.failed();
    assertThat(only().actualTokens()).isEqualTo(19);
    assertThat(metrics.inflight().get()).isZero();
  }

  @Test
  void aMessageBatchIsChargedItsReservationAtTheBatchPriceUnlessRefused() {
    String batch = "{\"requests\":[{\"custom_id\":\"a\",\"params\":" + MESSAGES + "}]}";
    Settlement s = settlement(Endpoint.ANTHROPIC_MESSAGE_BATCHES, batch);
    s.answered(200, tail("{\"id\":\"msgbatch_1\",\"type\":\"message_batch\"}"));
    assertThat(only().actualTokens()).isEqualTo(s.reservation().totalTokens()).isPositive();
    assertThat(estimated("batch")).isEqualTo(1);

    store.reconciles.clear();
    settlement(Endpoint.ANTHROPIC_MESSAGE_BATCHES, batch).answered(400, tail("{\"type\":\"error\"}"));
    assertThat(only().actualTokens()).isZero();
  }
}
