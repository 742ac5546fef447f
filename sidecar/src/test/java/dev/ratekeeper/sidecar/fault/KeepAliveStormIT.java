package dev.ratekeeper.sidecar.fault;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.ratekeeper.policy.keys.RedisKeys;
import dev.ratekeeper.sidecar.it.SidecarFixture;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A provider throttle storm seen byte by byte: clients on raw keep-alive connections read each answer
 * exactly (its head, then {@code content-length} bytes), then check that nothing more arrives before
 * they send the next request. A connection pool (the SDKs' HTTP clients) counts any byte arriving on an
 * idle connection as a broken connection; the sidecar must send exactly one whole answer per request,
 * and close a connection only after an answer that says {@code connection: close}.
 */
class KeepAliveStormIT {
  static final int SIDECARS = 4;
  static final int CLIENTS = 16;
  static final long STORM_MS = 1_500;

  static SidecarFixture fixture;
  static StubLlmUpstream stub;

  @BeforeAll
  static void start() {
    fixture = new SidecarFixture();
    fixture.startRedis();
    stub = StubLlmUpstream.start();
  }

  @AfterAll
  static void stop() {
    fixture.close();
    stub.close();
  }

  @Test
  void everyRequestGetsExactlyOneWholeAnswerAndNothingElse() throws Exception {
    String policy = SidecarFixture.policyFile(ThrottleStormIT.POLICY.formatted("keepalive-storm")).toString();
    List<Sidecar> fleet = new ArrayList<>();
    for (int i = 0; i < SIDECARS; i++) {
      fleet.add(fixture.sidecar(Map.of(), "--policy-file", policy, "--redis", fixture.redisUrl(),
          "--upstream", "anthropic=" + stub.url()));
    }
    RedisKeys keys = new RedisKeys(fleet.get(0).policy().id());
    await().atMost(Duration.ofSeconds(3)).until(() -> fixture.redis("PUBSUB", "NUMSUB", keys.cooldownChannel())
        .endsWith(" " + SIDECARS + "]"));
    stub.answerAlways(429, Map.of("content-type", "application/json", "retry-after", "1"),
        "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}");

    AtomicLong answers = new AtomicLong();
    AtomicLong closedAsSaid = new AtomicLong();
    Map<String, AtomicLong> wrong = new ConcurrentHashMap<>();
    ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
    long end = System.nanoTime() + STORM_MS * 1_000_000;
    List<Future<?>> clients = new ArrayList<>();
    for (int c = 0; c < CLIENTS; c++) {
      Sidecar sidecar = fleet.get(c % fleet.size());
      String user = "client-" + c;
      clients.add(pool.submit(() -> {
        byte[] request = ("POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            + "x-ratekeeper-user: " + user + "\r\ncontent-length: " + ThrottleStormIT.BODY.length() + "\r\n\r\n"
            + ThrottleStormIT.BODY).getBytes(StandardCharsets.US_ASCII);
        Socket socket = null;
        while (System.nanoTime() < end) {
          if (socket == null) {
            socket = new Socket("127.0.0.1", sidecar.proxyPort());
            socket.setTcpNoDelay(true);
          }
          try {
            socket.setSoTimeout(0);
            OutputStream out = socket.getOutputStream();
            out.write(request);
            out.flush();
            InputStream in = socket.getInputStream();
            String head = readHead(in);
            int length = Integer.parseInt(header(head, "content-length"));
            in.readNBytes(length);
            answers.incrementAndGet();
            if ("close".equalsIgnoreCase(header(head, "connection"))) {
              closedAsSaid.incrementAndGet();
              socket.close();
              socket = null;
              continue;
            }
            // idle now: nothing may arrive (wait a little, as a pool holding the connection would)
            socket.setSoTimeout(2);
            try {
              int stray = in.read();
              wrong.computeIfAbsent(stray < 0 ? "closed after a keep-alive answer" : "bytes after a whole answer",
                  k -> new AtomicLong()).incrementAndGet();
              socket.close();
              socket = null;
            } catch (SocketTimeoutException quiet) {
              // as it should be
            }
          } catch (IOException e) {
            wrong.computeIfAbsent("I/O: " + e.getMessage(), k -> new AtomicLong()).incrementAndGet();
            socket.close();
            socket = null;
          }
        }
        if (socket != null) {
          socket.close();
        }
        return null;
      }));
    }
    for (Future<?> client : clients) {
      client.get();
    }
    pool.shutdown();
    System.out.println("FAULT-FIGURES keep-alive storm: " + answers + " answers on raw keep-alive connections, "
        + closedAsSaid + " with connection: close, provider saw " + stub.requestCount() + " calls");
    assertThat(answers.get()).isGreaterThan(100);
    assertThat(wrong).isEmpty();
    fleet.forEach(Sidecar::close);
  }

  private static String readHead(InputStream in) throws IOException {
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    int state = 0;
    while (state < 4) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("closed before a whole answer head (" + head.size() + " bytes)");
      }
      head.write(b);
      state = (b == '\r' && (state == 0 || state == 2)) || (b == '\n' && (state == 1 || state == 3)) ? state + 1 : 0;
    }
    return head.toString(StandardCharsets.US_ASCII);
  }

  private static String header(String head, String name) {
    for (String line : head.split("\r\n")) {
      int colon = line.indexOf(':');
      if (colon > 0 && line.substring(0, colon).trim().toLowerCase(Locale.ROOT).equals(name)) {
        return line.substring(colon + 1).trim();
      }
    }
    return null;
  }
}
