package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Downgrade before overspend, through a real sidecar and Redis: a call the budget cannot pay on the
 * asked model goes to its cheaper {@code budgetFallback}; past {@code downgradeAtPercent} of a budget
 * calls go there even while the budget could still pay; the tier's allow-list still applies.
 */
class BudgetDowngradeIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: downgrade, namespace: downgrade-it}
      spec:
        identity: {trustTierHeader: true}
        tiers:
        - name: std
          budget: {usd: "0.01", period: Daily}
        - name: runs
          run: {usd: "0.002"}
        - name: short-runs
          run: {usd: "0.01", requests: 2}
        - name: no-mini
          budget: {usd: "0.01", period: Daily}
          models: ["gpt-4o"]
        models:
        - name: gpt-4o
          pricing: {inputPerMillion: "2.50", outputPerMillion: "10.00"}
          budgetFallback: gpt-4o-mini
        - name: gpt-4.1
          pricing: {inputPerMillion: "2.00", outputPerMillion: "8.00"}
          budgetFallback: gpt-4o-mini
          downgradeAtPercent: 50
        - name: gpt-4o-mini
          pricing: {inputPerMillion: "0.15", outputPerMillion: "0.60"}
        upstreams:
        - {name: openai, url: "https://api.openai.com", format: openai}
      """;

  static SidecarFixture fixture;
  static StubLlmUpstream stub;
  static Sidecar sidecar;

  @BeforeAll
  static void start() {
    fixture = new SidecarFixture();
    fixture.startRedis();
    stub = StubLlmUpstream.start();
    sidecar = fixture.sidecarFor(POLICY, "openai", stub);
  }

  @AfterAll
  static void stop() {
    fixture.close();
    stub.close();
  }

  @BeforeEach
  void reset() {
    stub.reset();
  }

  static String body(String model, int maxTokens) {
    return "{\"model\":\"" + model + "\",\"max_tokens\":" + maxTokens
        + ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  }

  static HttpResponse<String> call(String tier, String user, String body, String... more) {
    String[] headers = new String[4 + more.length];
    headers[0] = "X-Ratekeeper-User";
    headers[1] = user;
    headers[2] = "X-Ratekeeper-Tier";
    headers[3] = tier;
    System.arraycopy(more, 0, headers, 4, more.length);
    return fixture.post(sidecar, "/openai/v1/chat/completions", body, headers);
  }

  @Test
  void aCallTheBudgetCannotPayOnTheAskedModelGoesToTheCheaperOne() throws Exception {
    // $0.01 pays ~1,000 output tokens of gpt-4o (10 $/M), ~16,600 of gpt-4o-mini (0.60 $/M)
    HttpResponse<String> resp = call("std", "d1", body("gpt-4o", 5_000));
    assertThat(resp.statusCode()).as(resp.body()).isEqualTo(200);
    assertThat(resp.headers().firstValue("x-ratekeeper-model-fallback")).hasValue("gpt-4o -> gpt-4o-mini");
    assertThat(JSON.readTree(stub.lastRequest().body()).path("model").asText()).isEqualTo("gpt-4o-mini");
    assertThat(JSON.readTree(resp.body()).path("model").asText()).isEqualTo("gpt-4o-mini");

    HttpResponse<String> fits = call("std", "d1", body("gpt-4o", 100));
    assertThat(fits.statusCode()).isEqualTo(200);
    assertThat(fits.headers().firstValue("x-ratekeeper-model-fallback")).as("gpt-4o fits: no downgrade").isEmpty();
  }

  @Test
  void theTiersAllowListStillApplies() {
    // 990 output tokens of gpt-4o (~$0.0099) fit the empty $0.01 budget once; not a second time
    assertThat(call("no-mini", "d2", body("gpt-4o", 990)).statusCode()).isEqualTo(200);
    HttpResponse<String> resp = call("no-mini", "d2", body("gpt-4o", 990));
    assertThat(resp.statusCode()).isEqualTo(429);
    assertThat(resp.headers().firstValue("x-ratekeeper-limited-by")).hasValue("budget");
    assertThat(resp.headers().firstValue("x-ratekeeper-model-fallback")).isEmpty();
    assertThat(stub.requestCount()).isEqualTo(1);
  }

  @Test
  void pastDowngradeAtPercentCallsGoToTheCheaperModelWhileTheBudgetCouldStillPay() throws Exception {
    // each gpt-4.1 call of 300 output tokens reserves and spends ~$0.0024: under 50 % of $0.01 twice,
    // then past it (committed spend plus this call's reservation)
    stub.outputTokens = 300;
    int downgradedAt = -1;
    for (int i = 0; i < 4; i++) {
      HttpResponse<String> resp = call("std", "d3", body("gpt-4.1", 300));
      assertThat(resp.statusCode()).as(resp.body()).isEqualTo(200);
      if (resp.headers().firstValue("x-ratekeeper-model-fallback").isPresent()) {
        assertThat(resp.headers().firstValue("x-ratekeeper-model-fallback")).hasValue("gpt-4.1 -> gpt-4o-mini");
        assertThat(JSON.readTree(stub.lastRequest().body()).path("model").asText()).isEqualTo("gpt-4o-mini");
        downgradedAt = i;
        break;
      }
    }
    stub.outputTokens = 15;
    assertThat(downgradedAt).as("the call past 50 %% of the budget was downgraded").isEqualTo(2);
  }

  @Test
  void aDowngradedCallCountsOnceAgainstTheRun() throws Exception {
    // gpt-4.1 at 700 output tokens reserves ~$0.0056: past 50 % of the run's $0.01 at once, so each call
    // is admitted, given back and admitted again on gpt-4o-mini; the run's 2 calls are 2 calls
    for (int i = 0; i < 2; i++) {
      HttpResponse<String> resp = call("short-runs", "d5", body("gpt-4.1", 700), "X-Ratekeeper-Run", "r");
      assertThat(resp.statusCode()).as("call %d: %s", i + 1, resp.body()).isEqualTo(200);
      assertThat(resp.headers().firstValue("x-ratekeeper-model-fallback")).hasValue("gpt-4.1 -> gpt-4o-mini");
    }
    HttpResponse<String> third = call("short-runs", "d5", body("gpt-4.1", 700), "X-Ratekeeper-Run", "r");
    assertThat(third.statusCode()).isEqualTo(429);
    assertThat(third.headers().firstValue("x-ratekeeper-limited-by")).hasValue("run.requests");
    assertThat(stub.requestCount()).isEqualTo(2);
  }

  @Test
  void aRunsBudgetDowngradesToo() throws Exception {
    // a run of $0.002 pays ~150 output tokens of gpt-4o but 3,000 of gpt-4o-mini
    HttpResponse<String> resp = call("runs", "d4", body("gpt-4o", 1_000), "X-Ratekeeper-Run", "task-7");
    assertThat(resp.statusCode()).as(resp.body()).isEqualTo(200);
    assertThat(resp.headers().firstValue("x-ratekeeper-model-fallback")).hasValue("gpt-4o -> gpt-4o-mini");
    assertThat(stub.lastRequest().headers().get("X-Ratekeeper-Run")).as("the run header is not forwarded").isNull();
  }
}
