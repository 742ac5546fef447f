package dev.ratekeeper.sidecar.fault;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.sidecar.it.SidecarFixture;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.sidecar.wire.TokenEstimator;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Many streams at once across two sidecars, Anthropic and OpenAI, and half of the clients hang up
 * after the first text delta: the sidecars cancel exactly those upstream calls, release every
 * lease (each user's lease set in Redis is gone), charge each cancelled call at least its input
 * (the provider's figure when it sent one, else the sidecar's estimate) plus the text forwarded, and
 * charge every finished stream what the provider reported.
 */
class StreamDisconnectIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: streams, namespace: fault}
      spec:
        tiers:
        - name: everyone
          requests: {perMinute: 6000000}
          tokens: {perHour: 100000000}
          concurrency: 1
          budget: {usd: "100.00", period: Monthly}
        models:
        - name: claude-sonnet-4-6
          pricing: {inputPerMillion: "3.00", outputPerMillion: "15.00"}
        - name: gpt-4o
          pricing: {inputPerMillion: "2.50", outputPerMillion: "10.00"}
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
        - {name: openai, url: "https://api.openai.com", format: openai}
      """;
  static final String PROMPT = "Tell me a long story about rate limits, buckets and budgets, please.";
  static final String ANTHROPIC = "{\"model\":\"claude-sonnet-4-6\",\"max_tokens\":500,\"stream\":true,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"" + PROMPT + "\"}]}";
  static final String OPENAI = "{\"model\":\"gpt-4o\",\"max_completion_tokens\":500,\"stream\":true,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"" + PROMPT + "\"}]}";
  static final int STREAMS = 32;

  static SidecarFixture fixture;
  static StubLlmUpstream stub;
  static final List<Sidecar> fleet = new ArrayList<>();
  static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @BeforeAll
  static void start() {
    fixture = new SidecarFixture();
    fixture.startRedis();
    stub = StubLlmUpstream.start();
    String policy = SidecarFixture.policyFile(POLICY).toString();
    for (int i = 0; i < 2; i++) {
      fleet.add(fixture.sidecar(Map.of(), "--policy-file", policy, "--redis", fixture.redisUrl(),
          "--upstream", "anthropic=" + stub.url(), "--upstream", "openai=" + stub.url()));
    }
  }

  @AfterAll
  static void stop() {
    fixture.close();
    stub.close();
  }

  /** One client: opens a stream, reads up to the first text delta, then hangs up or reads to the end. */
  private record Client(String user, boolean anthropic, boolean hangsUp) {}

  @Test
  void clientsHangingUpMidStreamReleaseTheirSlotsAndAreChargedTheirInput() throws Exception {
    stub.reset();
    stub.eventDelayMs = 40;
    stub.streamDeltas = 30; // about 1.4 s a stream
    List<Client> clients = new ArrayList<>();
    for (int i = 0; i < STREAMS; i++) {
      clients.add(new Client("streamer-" + i, i % 2 == 0, i % 4 < 2));
    }
    ExecutorService pool = Executors.newFixedThreadPool(STREAMS);
    List<CompletableFuture<String>> runs = new ArrayList<>();
    for (int i = 0; i < STREAMS; i++) {
      Client client = clients.get(i);
      Sidecar sidecar = fleet.get(i % 4 < 2 ? 0 : 1);
      runs.add(CompletableFuture.supplyAsync(() -> stream(sidecar, client), pool));
    }
    for (CompletableFuture<String> run : runs) {
      String problem = run.get();
      assertThat(problem).isNull();
    }
    pool.shutdown();
    long hungUp = clients.stream().filter(Client::hangsUp).count();

    await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
      assertThat(stub.streamsCancelled()).as("upstream calls cancelled").isEqualTo((int) hungUp);
      assertThat(stub.streamsCompleted()).isEqualTo((int) (STREAMS - hungUp));
    });
    String prefix = "rk:{fault/streams}:";
    await().atMost(Duration.ofSeconds(3)).untilAsserted(() -> {
      assertThat(fixture.redis("KEYS", prefix + "u:*:conc")).as("every lease released").isEqualTo("[]");
      assertThat(fixture.redisLong("EVAL", "local held = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do "
          + "if redis.call('GET', k) ~= 'done' then held = held + 1 end end return held", "0", prefix + "r:*"))
          .as("reservations still held").isZero();
    });
    String tokens = fixture.redisKey(prefix + "top:*:tokens");
    String spend = tokens.substring(0, tokens.length() - ":tokens".length());
    long openAiInputEstimate = TokenEstimator.estimateInput(UpstreamFormat.OPENAI, "gpt-4o", JSON.readTree(OPENAI));
    Map<String, List<Long>> figures = new java.util.TreeMap<>();
    for (Client client : clients) {
      long charged = fixture.redisLong("HGET", tokens, client.user());
      figures.computeIfAbsent((client.anthropic() ? "anthropic" : "openai") + (client.hangsUp() ? " hung up" : " finished"),
          k -> new ArrayList<>()).add(charged);
      long costMicros = (long) Double.parseDouble(fixture.redis("ZSCORE", spend, client.user()));
      if (!client.hangsUp()) {
        // the provider's figures: 25 input + 15 output
        assertThat(charged).as(client.toString()).isEqualTo(40);
      } else if (client.anthropic()) {
        // message_start carried the provider's input figure (25); plus the text forwarded before the hang-up
        assertThat(charged).as(client.toString()).isGreaterThan(25);
        assertThat(costMicros).as(client.toString()).isGreaterThan(25 * 3);
      } else {
        // OpenAI reports usage only at the end: the sidecar's input estimate, plus the text forwarded
        assertThat(charged).as(client.toString()).isGreaterThan(openAiInputEstimate);
        assertThat(costMicros).as(client.toString()).isGreaterThanOrEqualTo((openAiInputEstimate * 5 + 1) / 2);
      }
    }
    System.out.println("FAULT-FIGURES streams: " + STREAMS + " at once, " + hungUp + " hung up after the first delta;"
        + " tokens charged per call " + figures + "; OpenAI input estimate " + openAiInputEstimate);
    // each user's one slot is free: a new call goes through at once
    stub.eventDelayMs = 0;
    for (Client client : clients) {
      HttpResponse<String> again = fixture.post(fleet.get(1), client.anthropic() ? "/anthropic/v1/messages"
          : "/openai/v1/chat/completions", client.anthropic() ? ANTHROPIC : OPENAI, "X-Ratekeeper-User", client.user());
      assertThat(again.statusCode()).as(client + " " + again.body()).isEqualTo(200);
    }
  }

  /** Runs one client; null when it saw what it should, else what went wrong. */
  private static String stream(Sidecar sidecar, Client client) {
    HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sidecar.proxyPort()
            + (client.anthropic() ? "/anthropic/v1/messages" : "/openai/v1/chat/completions")))
        .timeout(Duration.ofSeconds(10)).header("content-type", "application/json")
        .header("X-Ratekeeper-User", client.user())
        .POST(HttpRequest.BodyPublishers.ofString(client.anthropic() ? ANTHROPIC : OPENAI)).build();
    try {
      HttpResponse<InputStream> resp = HTTP.send(request, HttpResponse.BodyHandlers.ofInputStream());
      if (resp.statusCode() != 200) {
        return client + ": status " + resp.statusCode() + " " + new String(resp.body().readAllBytes(), StandardCharsets.UTF_8);
      }
      try (BufferedReader reader = new BufferedReader(new InputStreamReader(resp.body(), StandardCharsets.UTF_8))) {
        String line;
        boolean delta = false;
        while (!delta && (line = reader.readLine()) != null) {
          delta = line.contains(StubLlmUpstream.DELTA_TEXT);
        }
        if (!delta) {
          return client + ": no text delta";
        }
        if (client.hangsUp()) {
          return null; // closing the reader closes the stream: the client is gone
        }
        StringBuilder rest = new StringBuilder();
        while ((line = reader.readLine()) != null) {
          rest.append(line).append('\n');
        }
        boolean finished = client.anthropic() ? rest.toString().contains("message_stop")
            : rest.toString().contains("data: [DONE]");
        return finished ? null : client + ": stream ended early";
      }
    } catch (Exception e) {
      return client + ": " + e;
    }
  }
}
