package dev.ratekeeper.sidecar.fault;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ratekeeper.sidecar.fault.BypassCorpus.Case;
import dev.ratekeeper.sidecar.it.SidecarFixture;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.sidecar.time.ManualClock;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The bypass corpus ({@link BypassCorpus}) against a real sidecar, real Redis and the recording stub
 * provider, every request sent byte for byte over a socket: each gets the status the contract names,
 * the provider sees only the calls the endpoint table meters or calls free, under their canonical
 * path; afterwards a normal call still works, and neither the process's memory nor {@code /metrics}
 * grew with what the clients sent. Then the proxy port's bounds: stalled bodies, unfinished headers,
 * {@code Expect: 100-continue}.
 */
class BypassCorpusIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: bypass, namespace: fault}
      spec:
        tiers:
        - name: free
          requests: {perMinute: 1000000}
          tokens: {maxPerRequest: 2000}
          budget: {usd: "10.00", period: Monthly}
          models: ["claude-haiku-4-5", "gpt-4o-mini"]
        models:
        - name: claude-haiku-4-5
          pricing: {inputPerMillion: "1.00", outputPerMillion: "5.00"}
        - name: claude-opus-4-5
          pricing: {inputPerMillion: "5.00", outputPerMillion: "25.00"}
        - name: gpt-4o-mini
          pricing: {inputPerMillion: "0.15", outputPerMillion: "0.60"}
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
        - {name: openai, url: "https://api.openai.com", format: openai}
        - name: azure
          url: https://contoso.openai.azure.com
          format: azure-openai
          deployments: [{name: mini, model: gpt-4o-mini}, {name: big, model: claude-opus-4-5}]
      """;

  static SidecarFixture fixture;
  static StubLlmUpstream stub;
  static Sidecar sidecar;
  static Sidecar tight;
  static Sidecar quiet;
  /** The quiet sidecar's clock: its --header-timeout (1 s) passes when a test moves it. */
  static final ManualClock quietClock = new ManualClock();
  static Sidecar idle;

  @BeforeAll
  static void start() {
    fixture = new SidecarFixture();
    fixture.startRedis();
    stub = StubLlmUpstream.start();
    String policy = SidecarFixture.policyFile(POLICY).toString();
    sidecar = fixture.sidecar(Map.of("RATEKEEPER_UPSTREAM_KEY_AZURE", "azure-key"), "--policy-file", policy,
        "--redis", fixture.redisUrl(), "--upstream", "anthropic=" + stub.url(), "--upstream", "openai=" + stub.url(),
        "--upstream", "azure=" + stub.url(), "--max-body", "2MiB");
    tight = fixture.sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.replace("name: bypass,",
            "name: bypass-tight,")).toString(), "--redis", fixture.redisUrl(),
        "--upstream", "anthropic=" + stub.url(), "--upstream", "openai=" + stub.url(), "--max-body", "1MiB",
        "--max-inflight-body", "3MiB", "--body-timeout", "3s");
    idle = fixture.sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.replace("name: bypass,",
            "name: bypass-idle,")).toString(), "--upstream", "anthropic=" + stub.url(), "--idle-timeout", "2s");
    // the last one started: its header deadline runs on a clock moved by hand (no Redis, so nothing else reads it)
    quiet = fixture.clock(quietClock).sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.replace(
        "name: bypass,", "name: bypass-quiet,")).toString(), "--upstream", "anthropic=" + stub.url(),
        "--header-timeout", "1s");
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
  void everyBypassIsMeteredOrRefusedAndNothingUnmeteredReachesTheProvider() throws Exception {
    List<Case> corpus = BypassCorpus.cases();
    long rssBefore = rssBytes();
    int metricsBefore = metricsSize(sidecar);

    List<String> wrong = new ArrayList<>();
    List<String> expectedAtProvider = new ArrayList<>();
    for (Case c : corpus) {
      Answer answer = send(sidecar.proxyPort(), c.method(), c.target(), c.body(), Map.of());
      if (answer.status() != c.status()) {
        wrong.add(c.label() + ": status " + answer.status() + ", expected " + c.status() + " — "
            + answer.body().substring(0, Math.min(200, answer.body().length())));
      } else if (c.status() >= 400 && !isProviderError(answer.body())) {
        wrong.add(c.label() + ": not a provider-shaped error: " + answer.body());
      }
      if (c.forwardedAs() != null) {
        expectedAtProvider.add(c.forwardedAs());
      }
    }
    assertThat(wrong).as("answers").isEmpty();
    List<String> atProvider = stub.recorded().stream().map(r -> r.path()).toList();
    assertThat(atProvider).as("what reached the provider, under its canonical path")
        .containsExactlyInAnyOrderElementsOf(expectedAtProvider);
    assertThat(stub.requestCount()).isEqualTo(expectedAtProvider.size());

    // clients' model names never become label values: 300 unique 4 KB names
    for (int i = 0; i < 300; i++) {
      String model = "m" + i + "-" + "z".repeat(4096);
      String path = i % 2 == 0 ? "/anthropic/v1/messages" : "/openai/v1/chat/completions";
      Answer answer = send(sidecar.proxyPort(), "POST", path, ("{\"model\":\"" + model
          + "\",\"max_tokens\":10,\"messages\":[]}").getBytes(UTF_8), Map.of());
      assertThat(answer.status()).isEqualTo(403);
      assertThat(answer.body().length()).as("the name is quoted back shortened").isLessThan(1200);
    }
    String metrics = fixture.get(sidecar.adminPort(), "/metrics").body();
    assertThat(metrics).doesNotContain("zzzzzzzz").contains("model=\"other\"");
    assertThat(metrics.length() - metricsBefore).as("/metrics growth in bytes").isLessThan(64 * 1024);

    // the sidecar still serves a normal call, and the process did not balloon
    Answer normal = send(sidecar.proxyPort(), "POST", "/anthropic/v1/messages", BypassCorpus.HAIKU.getBytes(UTF_8),
        Map.of());
    assertThat(normal.status()).as(normal.body()).isEqualTo(200);
    assertThat(fixture.get(sidecar.adminPort(), "/healthz").statusCode()).isEqualTo(200);
    long rssGrowth = rssBytes() - rssBefore;
    System.out.println("FAULT-FIGURES bypass: " + corpus.size() + " cases + 300 model names; RSS growth "
        + rssGrowth / (1024 * 1024) + " MiB; /metrics " + metrics.length() + " bytes");
    assertThat(rssGrowth).as("RSS growth").isLessThan(768L * 1024 * 1024);
  }

  @Test
  void stalledPartialBodiesCannotStarveALegitimateRequestAndTimeOut() throws Exception {
    // four clients promise 1,000,000 bytes each, send 700,000 and stall: 2.8 MB of the 3 MiB the sidecar may hold
    List<Socket> stalled = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      stalled.add(stall(tight.proxyPort(), 1_000_000, 700_000));
    }
    await().atMost(Duration.ofSeconds(5)).until(() -> tight.inflightBodyBytes() >= 4 * 690_000);
    // a legitimate call still fits and is answered
    Answer legit = send(tight.proxyPort(), "POST", "/anthropic/v1/messages", BypassCorpus.HAIKU.getBytes(UTF_8),
        Map.of());
    assertThat(legit.status()).as(legit.body()).isEqualTo(200);
    // a fifth staller would pass the total: refused with 503 and retry-after, its bytes given back
    Socket fifth = stall(tight.proxyPort(), 1_000_000, 700_000);
    Answer refused = read(fifth);
    assertThat(refused.status()).isEqualTo(503);
    assertThat(refused.head()).containsIgnoringCase("retry-after: 1");
    // the stallers' bodies time out (408) and every byte is given back
    for (Socket socket : stalled) {
      assertThat(read(socket).status()).isEqualTo(408);
    }
    await().atMost(Duration.ofSeconds(5)).until(() -> tight.inflightBodyBytes() == 0);
    assertThat(stub.requestCount()).isEqualTo(1);
  }

  @Test
  void aConnectionThatStopsInItsHeadersIsClosedByTheHeaderTimeout() throws Exception {
    try (Socket socket = connectToQuiet()) {
      socket.getOutputStream().write("POST /anthropic/v1/messages HTTP/1.1\r\nHost: x\r\nX-Slow: "
          .getBytes(UTF_8));
      socket.getOutputStream().flush();
      closedAtTheHeaderTimeout(socket);
    }
  }

  @Test
  void aConnectionThatSendsNothingIsClosedByTheHeaderTimeout() throws Exception {
    try (Socket socket = connectToQuiet()) {
      closedAtTheHeaderTimeout(socket);
    }
  }

  @Test
  void aKeptAliveConnectionOutlivesTheHeaderTimeout() throws Exception {
    try (Socket socket = connectToQuiet()) {
      byte[] body = BypassCorpus.HAIKU.getBytes(UTF_8);
      byte[] head = ("POST /anthropic/v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
          + "\r\nContent-Length: " + body.length + "\r\n\r\n").getBytes(UTF_8);
      socket.getOutputStream().write(head);
      socket.getOutputStream().write(body);
      socket.getOutputStream().flush();
      assertThat(read(socket).status()).isEqualTo(200);
      assertThat(quiet.awaitingHeaders()).as("its deadline ended with its first head").isZero();
      // past --header-timeout (1 s) on the clock, on a connection whose first head arrived: still open, and
      // serves a second call
      quietClock.advanceMs(1_500);
      socket.getOutputStream().write(head);
      socket.getOutputStream().write(body);
      socket.getOutputStream().flush();
      assertThat(read(socket).status()).isEqualTo(200);
    }
  }

  /** A connection to the quiet sidecar, once no earlier one awaits its head there. */
  private static Socket connectToQuiet() throws IOException {
    await().atMost(Duration.ofSeconds(5)).until(() -> quiet.awaitingHeaders() == 0);
    Socket socket = new Socket("127.0.0.1", quiet.proxyPort());
    socket.setSoTimeout(10_000);
    return socket;
  }

  /**
   * The quiet sidecar holds {@code socket}'s connection until its first head: open 1 ms of its clock
   * short of --header-timeout (1 s), closed when the clock reaches it (the idle timeout is the
   * default 630 s; the read ends instead of waiting out its own 10 s).
   */
  private static void closedAtTheHeaderTimeout(Socket socket) throws IOException {
    await().atMost(Duration.ofSeconds(5)).until(() -> quiet.awaitingHeaders() == 1);
    quietClock.advanceMs(999);
    assertThat(quiet.awaitingHeaders()).as("999 ms into the header timeout").isEqualTo(1);
    quietClock.advanceMs(1);
    assertThat(quiet.awaitingHeaders()).isZero();
    assertThat(socket.getInputStream().read()).isEqualTo(-1);
  }

  @Test
  void aKeptAliveConnectionThatGoesQuietIsClosedByTheIdleTimeout() throws Exception {
    try (Socket socket = new Socket("127.0.0.1", idle.proxyPort())) {
      socket.setSoTimeout(10_000);
      byte[] body = BypassCorpus.HAIKU.getBytes(UTF_8);
      socket.getOutputStream().write(("POST /anthropic/v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
          + "\r\nContent-Length: " + body.length + "\r\n\r\n").getBytes(UTF_8));
      socket.getOutputStream().write(body);
      socket.getOutputStream().flush();
      assertThat(read(socket).status()).isEqualTo(200);
      // kept alive, then nothing either way: closed after --idle-timeout (2 s), well before the read's 10 s
      long start = System.nanoTime();
      int read = socket.getInputStream().read();
      long ms = (System.nanoTime() - start) / 1_000_000;
      assertThat(read).isEqualTo(-1);
      assertThat(ms).isBetween(1_000L, 8_000L);
    }
  }

  @Test
  void expectContinueIsAnsweredAndAnOversizedOrUnknownExpectationIsRefusedBeforeTheBody() throws Exception {
    byte[] body = BypassCorpus.HAIKU.getBytes(UTF_8);
    try (Socket socket = new Socket("127.0.0.1", sidecar.proxyPort())) {
      socket.setSoTimeout(5_000);
      OutputStream out = socket.getOutputStream();
      out.write(("POST /anthropic/v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          + "Content-Length: " + body.length + "\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n").getBytes(UTF_8));
      out.flush();
      // the client waits for 100 Continue before it sends the body
      String interim = readLine(socket.getInputStream());
      assertThat(interim).startsWith("HTTP/1.1 100");
      out.write(body);
      out.flush();
      Answer answer = read(socket);
      assertThat(answer.status()).as(answer.body()).isEqualTo(200);
    }
    assertThat(stub.lastRequest().headers().get("expect")).isNull();

    Answer tooLarge = send(sidecar.proxyPort(), "POST", "/anthropic/v1/messages", null,
        Map.of("Expect", "100-continue", "Content-Length", Long.toString(10L << 20)));
    assertThat(tooLarge.status()).isEqualTo(413);
    assertThat(tooLarge.head()).doesNotContain(" 100 ");

    Answer unknown = send(sidecar.proxyPort(), "POST", "/anthropic/v1/messages", body, Map.of("Expect", "magic"));
    assertThat(unknown.status()).isEqualTo(417);
    assertThat(stub.requestCount()).isEqualTo(1);
  }

  /** Opens a connection that declares {@code declared} bytes, sends {@code sent} of them, then waits. */
  private static Socket stall(int port, int declared, int sent) throws IOException {
    Socket socket = new Socket("127.0.0.1", port);
    socket.setSoTimeout(15_000);
    OutputStream out = socket.getOutputStream();
    out.write(("POST /anthropic/v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + "X-Ratekeeper-User: staller\r\nContent-Length: " + declared + "\r\n\r\n").getBytes(UTF_8));
    out.write("{\"model\":\"claude-haiku-4-5\",\"messages\":[{\"role\":\"user\",\"content\":\"".getBytes(UTF_8));
    out.write("s".repeat(sent - 64).getBytes(UTF_8));
    out.flush();
    return socket;
  }

  record Answer(int status, String head, String body) {}

  /** Sends one request over its own connection, the target byte for byte. */
  static Answer send(int port, String method, String target, byte[] body, Map<String, String> headers)
      throws IOException {
    try (Socket socket = new Socket("127.0.0.1", port)) {
      socket.setSoTimeout(20_000);
      StringBuilder head = new StringBuilder(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
          + "X-Ratekeeper-User: hostile\r\nContent-Type: application/json\r\nConnection: close\r\n");
      headers.forEach((k, v) -> head.append(k).append(": ").append(v).append("\r\n"));
      if (body != null && !headers.containsKey("Content-Length")) {
        head.append("Content-Length: ").append(body.length).append("\r\n");
      }
      head.append("\r\n");
      OutputStream out = socket.getOutputStream();
      out.write(head.toString().getBytes(UTF_8));
      try {
        if (body != null && !headers.containsKey("Expect")) {
          out.write(body);
        }
        out.flush();
      } catch (IOException refusedMidBody) {
        // the sidecar answered and closed before the whole body was sent (413): read its answer
      }
      return read(socket);
    }
  }

  static Answer read(Socket socket) throws IOException {
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    InputStream in = socket.getInputStream();
    byte[] buffer = new byte[65536];
    try {
      for (int n; (n = in.read(buffer)) >= 0; ) {
        all.write(buffer, 0, n);
        String sofar = all.toString(UTF_8);
        int end = sofar.indexOf("\r\n\r\n");
        if (end >= 0 && complete(sofar, end)) {
          break;
        }
      }
    } catch (SocketTimeoutException | java.net.SocketException e) {
      // answered what it answered
    }
    String text = all.toString(UTF_8);
    int end = text.indexOf("\r\n\r\n");
    if (end < 0) {
      return new Answer(-1, text, "");
    }
    String head = text.substring(0, end);
    String[] status = head.split(" ", 3);
    return new Answer(Integer.parseInt(status[1]), head, text.substring(end + 4));
  }

  /** Whether the response whose head ends at {@code end} has all arrived (by content-length or the last chunk). */
  private static boolean complete(String text, int end) {
    String head = text.substring(0, end).toLowerCase();
    int at = head.indexOf("content-length: ");
    if (at >= 0) {
      int length = Integer.parseInt(head.substring(at + 16).split("\r\n")[0].trim());
      return text.length() - end - 4 >= length;
    }
    return head.contains("chunked") && text.endsWith("0\r\n\r\n");
  }

  private static String readLine(InputStream in) throws IOException {
    StringBuilder line = new StringBuilder();
    for (int c; (c = in.read()) >= 0 && c != '\n'; ) {
      line.append((char) c);
    }
    // the blank line after the interim response
    in.read();
    in.read();
    return line.toString().trim();
  }

  private static boolean isProviderError(String body) {
    try {
      JsonNode error = JSON.readTree(body).path("error");
      return error.path("message").isTextual() && error.path("type").isTextual();
    } catch (IOException e) {
      return false;
    }
  }

  private static int metricsSize(Sidecar s) {
    return fixture.get(s.adminPort(), "/metrics").body().length();
  }

  private static long rssBytes() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
      }
    }
    return 0;
  }
}
