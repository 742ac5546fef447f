package dev.ratekeeper.sidecar.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.it.SidecarFixture;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.limiter.ReconcileResult;
import dev.ratekeeper.sidecar.store.InMemoryLimiterStore;
import dev.ratekeeper.testkit.StubLlmUpstream;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A provider's 429 is relayed only once its cooldown is shared; a client that leaves meanwhile was
 * refused by the provider all the same, so its call is charged nothing, not its input estimate as a
 * call cut short. The cooldown's sharing is held (an observer whose future the test never completes
 * before the client has left), so the client's leaving falls in that wait every time.
 */
class ThrottleShareIT {
  static final String BODY = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":50,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}";

  static Vertx vertx;
  static StubLlmUpstream stub;
  static ProxyServer proxy;
  static int port;
  static final List<ReconcileRequest> reconciles = new CopyOnWriteArrayList<>();
  static final List<Promise<Void>> sharing = new CopyOnWriteArrayList<>();

  @BeforeAll
  static void start() throws Exception {
    vertx = Vertx.vertx();
    stub = StubLlmUpstream.start();
    CompiledPolicy policy = AdmissionPlanTest.compile("""
        apiVersion: ratekeeper.dev/v1alpha1
        kind: RateLimitPolicy
        metadata: {name: share, namespace: t}
        spec:
          tiers:
          - name: free
            tokens: {perMinute: 100000}
        """);
    InMemoryLimiterStore memory = new InMemoryLimiterStore(LimiterOptions.DEFAULTS, System::currentTimeMillis);
    LimiterStore recording = new LimiterStore() {
      @Override
      public Future<Decision> admit(AdmitRequest request) {
        return memory.admit(request);
      }

      @Override
      public Future<ReconcileResult> reconcile(ReconcileRequest request) {
        reconciles.add(request);
        return memory.reconcile(request);
      }

      @Override
      public Future<Void> refund(AdmitRequest admitted) {
        return memory.refund(admitted);
      }
    };
    Forwarder forwarder = Proxies.forwarder(vertx, stub.url(), (scope, headers) -> {
      Promise<Void> shared = Promise.promise();
      sharing.add(shared);
      return shared.future();
    });
    proxy = Proxies.of(vertx, policy, recording, forwarder, "share");
    port = SidecarFixture.await(proxy.listen("127.0.0.1", 0)).actualPort();
  }

  @AfterAll
  static void stop() {
    SidecarFixture.await(proxy.close());
    stub.close();
    vertx.close();
  }

  @Test
  void aClientThatLeavesWhileTheProviders429IsSharedIsChargedNothing() throws Exception {
    stub.enqueue(429, Map.of("retry-after", "1", "content-type", "application/json"),
        "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}");
    try (Socket socket = new Socket("127.0.0.1", port)) {
      byte[] body = BODY.getBytes(StandardCharsets.UTF_8);
      OutputStream out = socket.getOutputStream();
      out.write(("POST /anthropic/v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
          + "x-ratekeeper-user: u\r\ncontent-length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.UTF_8));
      out.write(body);
      out.flush();
      // the provider answered 429 and the sidecar is sharing its cooldown: the client leaves now
      await().atMost(Duration.ofSeconds(5)).until(() -> sharing.size() == 1);
    }
    await().atMost(Duration.ofSeconds(5)).until(() -> reconciles.size() == 1);
    sharing.get(0).tryComplete();
    assertThat(reconciles.get(0).actualTokens()).as("tokens charged for a call the provider refused").isZero();
    assertThat(reconciles.get(0).estimated()).isFalse();
    assertThat(stub.requestCount()).isEqualTo(1);
  }
}
