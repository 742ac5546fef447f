package dev.ratekeeper.sidecar.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.ratekeeper.policy.keys.RedisKeys;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.sidecar.time.ManualClock;
import dev.ratekeeper.sidecar.upstream.CooldownScope;
import dev.ratekeeper.sidecar.upstream.UpstreamCooldowns;
import dev.ratekeeper.testkit.StubLlmUpstream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A provider 429 stops every sidecar under the policy: none calls the provider until the cooldown
 * the provider asked for has passed, then traffic resumes; a second episode in a row is longer
 * and ends with one half-open probe. Time is a clock moved by hand, read by the sidecars and by the
 * scripts in Redis alike (a cooldown is kept in both), so each cooldown is asserted to the
 * millisecond and nothing waits for one to pass; the waits left are for pub/sub announcements.
 */
class CooldownIT {
  static final String POLICY = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: cool, namespace: cooldown-it}
      spec:
        tiers:
        - name: everyone
          requests: {perMinute: 100000}
        upstreams:
        - {name: anthropic, url: "https://api.anthropic.com", format: anthropic}
      """;
  static final String BODY = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,\"messages\":[]}";
  static final String PROVIDER_429 = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}";
  /** Calls without a key of their own through sidecars holding none: one credential. */
  static final String SCOPE = new CooldownScope("anthropic", CooldownScope.NONE, null).key();

  static final ManualClock clock = new ManualClock();
  static SidecarFixture fixture;
  static StubLlmUpstream stub;

  @BeforeAll
  static void start() {
    fixture = new SidecarFixture().clock(clock);
    fixture.startRedis();
    stub = StubLlmUpstream.start();
  }

  @AfterAll
  static void stop() {
    fixture.close();
    stub.close();
  }

  /** Three sidecars of a policy of their own, so each test starts with no cooldown history. */
  private static List<Sidecar> fleet(String name) {
    List<Sidecar> fleet = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      fleet.add(member(name));
    }
    return fleet;
  }

  /** One more sidecar of the policy {@code name}. */
  private static Sidecar member(String name) {
    return fixture.sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.replace("name: cool,",
        "name: " + name + ",")).toString(), "--redis", fixture.redisUrl(), "--upstream", "anthropic=" + stub.url());
  }

  private static HttpResponse<String> call(Sidecar sidecar) {
    return callAs(sidecar, "u");
  }

  private static HttpResponse<String> callAs(Sidecar sidecar, String user) {
    return fixture.post(sidecar, "/v1/messages", BODY, "X-Ratekeeper-User", user);
  }

  private static String limitedBy(HttpResponse<String> resp) {
    return resp.headers().firstValue("x-ratekeeper-limited-by").orElse("");
  }

  /**
   * Every sidecar answers for the provider, with exactly {@code ms} of cooldown left on the clock.
   * Announcements arrive over pub/sub (or from Redis, for a sidecar that missed them): that is waited
   * for without calling through, then each sidecar is called.
   */
  private static void coolingDown(List<Sidecar> fleet, long ms) {
    await().atMost(Duration.ofSeconds(1)).until(() -> fleet.stream().allMatch(s ->
        s.cooldowns().check(SCOPE) instanceof UpstreamCooldowns.Open open && open.remainingMs() == ms));
    for (Sidecar sidecar : fleet) {
      HttpResponse<String> resp = call(sidecar);
      assertThat(resp.statusCode()).isEqualTo(429);
      assertThat(limitedBy(resp)).isEqualTo("upstream.cooldown");
      assertThat(resp.headers().firstValue("retry-after-ms")).contains(Long.toString(ms));
    }
  }

  @Test
  void aProvider429CoolsDownEverySidecarThenTrafficResumes() {
    List<Sidecar> fleet = new ArrayList<>(fleet("storm"));
    stub.reset();
    stub.enqueue(429, Map.of("retry-after", "2", "content-type", "application/json"), PROVIDER_429);
    HttpResponse<String> provider = call(fleet.get(0));
    assertThat(provider.statusCode()).isEqualTo(429);
    assertThat(provider.body()).contains("slow down"); // the provider's own answer passes through
    long calls = stub.requestCount();

    // every sidecar now answers for the provider, without calling it, for the 2 s the provider asked for
    coolingDown(fleet, 2_000);
    clock.advanceMs(1_000);
    coolingDown(fleet, 1_000);
    // a sidecar started now missed the announcement: it reads the cooldown from Redis, on the same clock
    fleet.add(member("storm"));
    coolingDown(fleet, 1_000);
    clock.advanceMs(999);
    coolingDown(fleet, 1);
    assertThat(stub.requestCount()).isEqualTo(calls);

    // once the 2 s the provider asked for have passed, calls go through again, from every sidecar
    clock.advanceMs(1);
    for (Sidecar sidecar : fleet) {
      assertThat(call(sidecar).statusCode()).isEqualTo(200);
    }
    assertThat(stub.requestCount()).isEqualTo(calls + fleet.size());
  }

  @Test
  void aSecondEpisodeInARowIsLongerAndEndsWithOneProbe() {
    List<Sidecar> fleet = fleet("breaker");
    stub.reset();
    // the provider throttles the first call, and again the first call after the cooldown
    stub.enqueue(429, Map.of("retry-after-ms", "300"), PROVIDER_429);
    stub.enqueue(429, Map.of("retry-after-ms", "300"), PROVIDER_429);
    assertThat(limitedBy(call(fleet.get(0)))).isEmpty(); // the provider's own 429: episode 1, 300 ms
    coolingDown(fleet, 300);
    // episode 1 ends; the next call meets the provider's second 429: a new episode, in Redis too
    clock.advanceMs(300);
    HttpResponse<String> again = call(fleet.get(0));
    assertThat(again.statusCode()).isEqualTo(429);
    assertThat(limitedBy(again)).isEmpty();
    assertThat(stub.requestCount()).isEqualTo(2);
    // episode 2 in a row lasts twice as long
    coolingDown(fleet, 600);
    clock.advanceMs(599);
    coolingDown(fleet, 1);
    assertThat(stub.requestCount()).isEqualTo(2);
    // after it the breaker is half-open: one probe goes through, succeeds and closes it for everyone
    clock.advanceMs(1);
    assertThat(fleet).allMatch(s -> s.cooldowns().check(SCOPE) instanceof UpstreamCooldowns.HalfOpen);
    assertThat(call(fleet.get(2)).statusCode()).isEqualTo(200);
    assertThat(stub.requestCount()).isEqualTo(3);
    await().atMost(Duration.ofSeconds(2)).until(() -> call(fleet.get(0)).statusCode() == 200
        && call(fleet.get(1)).statusCode() == 200);
  }

  @Test
  void whenTheProvidersQuotaIsNearlySpentTheFleetPausesBeforeIt429s() {
    List<Sidecar> fleet = fleet("preemptive");
    stub.reset();
    // the provider says: 10 of 1000 requests left until 1.5 s from now
    stub.answerHeaders.put("anthropic-ratelimit-requests-limit", "1000");
    stub.answerHeaders.put("anthropic-ratelimit-requests-remaining", "10");
    stub.answerHeaders.put("anthropic-ratelimit-requests-reset", clock.instant().plusMillis(1_500).toString());
    assertThat(call(fleet.get(0)).statusCode()).isEqualTo(200);
    stub.answerHeaders.clear();
    long calls = stub.requestCount();
    coolingDown(fleet, 1_500);
    clock.advanceMs(1_499);
    coolingDown(fleet, 1);
    assertThat(stub.requestCount()).isEqualTo(calls);
    // after the provider's reset traffic flows again, and no strike was counted: a later throttle is episode 1
    clock.advanceMs(1);
    for (Sidecar sidecar : fleet) {
      assertThat(call(sidecar).statusCode()).isEqualTo(200);
    }
    RedisKeys keys = new RedisKeys(fleet.get(0).policy().id());
    assertThat(fixture.redis("GET", keys.cooldown(SCOPE))).as("the pause is kept in Redis").isNotNull();
    assertThat(fixture.redis("GET", keys.cooldownStrikes(SCOPE))).isNull();
  }

  /** Two episodes in a row through {@code fleet}'s first sidecar, then the clock past the second: half-open. */
  private static void halfOpen(List<Sidecar> fleet) {
    stub.reset();
    stub.enqueue(429, Map.of("retry-after-ms", "300"), PROVIDER_429);
    stub.enqueue(429, Map.of("retry-after-ms", "300"), PROVIDER_429);
    assertThat(call(fleet.get(0)).statusCode()).isEqualTo(429);
    coolingDown(fleet, 300);
    clock.advanceMs(300);
    assertThat(call(fleet.get(0)).statusCode()).isEqualTo(429);
    coolingDown(fleet, 600);
    clock.advanceMs(600);
    assertThat(fleet).allMatch(s -> s.cooldowns().check(SCOPE) instanceof UpstreamCooldowns.HalfOpen);
    assertThat(stub.requestCount()).isEqualTo(2);
  }

  @Test
  void aProbeRefusedBeforeItReachesTheProviderHandsTheProbeOnToTheFleet() {
    List<Sidecar> fleet = fleet("handover");
    halfOpen(fleet);
    // the request that wins the probe is malformed: refused with a 400, never sent to the provider
    HttpResponse<String> malformed = fixture.post(fleet.get(0), "/v1/messages", "{\"model\":", "X-Ratekeeper-User", "u");
    assertThat(malformed.statusCode()).isEqualTo(400);
    assertThat(stub.requestCount()).isEqualTo(2);
    RedisKeys keys = new RedisKeys(fleet.get(0).policy().id());
    await().atMost(Duration.ofSeconds(1)).until(() -> fixture.redis("GET", keys.cooldownProbe(SCOPE)) == null);
    // so the next request, through another sidecar, probes at once (it was told to wait while the
    // probe was held: 30 s of real time, whatever the clock)
    assertThat(call(fleet.get(1)).statusCode()).isEqualTo(200);
    assertThat(stub.requestCount()).isEqualTo(3);
    await().atMost(Duration.ofSeconds(2)).until(() -> call(fleet.get(2)).statusCode() == 200);
  }

  @Test
  void withoutRedisAProbeRefusedBeforeItReachesTheProviderHandsTheProbeOn() {
    Sidecar alone = fixture.sidecar(Map.of(), "--policy-file", SidecarFixture.policyFile(POLICY.replace("name: cool,",
        "name: alone,")).toString(), "--upstream", "anthropic=" + stub.url());
    halfOpen(List.of(alone));
    HttpResponse<String> malformed = fixture.post(alone, "/v1/messages", "{\"model\":", "X-Ratekeeper-User", "u");
    assertThat(malformed.statusCode()).isEqualTo(400);
    // the probe was this process's own: before, it stayed held until a provider answer that no
    // request could get, and every call was answered 429 upstream.cooldown
    await().atMost(Duration.ofSeconds(1)).until(() -> call(alone).statusCode() == 200);
    assertThat(stub.requestCount()).isEqualTo(3);
  }

  /** The policy with a tier of 2 requests a minute whose calls may wait up to a minute for their turn. */
  private static Sidecar queueing(String name, boolean redis) {
    String policy = POLICY.replace("name: cool,", "name: " + name + ",")
        .replace("requests: {perMinute: 100000}", "requests: {perMinute: 2, burst: 2}\n    maxQueueWait: 60s");
    List<String> args = new ArrayList<>(List.of("--policy-file", SidecarFixture.policyFile(policy).toString(),
        "--upstream", "anthropic=" + stub.url()));
    if (redis) {
      args.addAll(List.of("--redis", fixture.redisUrl()));
    }
    return fixture.sidecar(Map.of(), args.toArray(String[]::new));
  }

  /** While the call is under way: what the test waits for before its client goes away. */
  private interface Meanwhile {
    void run(Socket socket) throws Exception;
  }

  /**
   * Sends user u's call on a connection of its own, runs {@code meanwhile} while the call is under
   * way, then closes the connection without reading an answer: the client goes away.
   */
  private static void callThenLeave(Sidecar sidecar, Meanwhile meanwhile) throws Exception {
    try (Socket socket = new Socket("127.0.0.1", sidecar.proxyPort())) {
      byte[] body = BODY.getBytes(StandardCharsets.UTF_8);
      OutputStream out = socket.getOutputStream();
      out.write(("POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-ratekeeper-user: u\r\n"
          + "content-length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.UTF_8));
      out.write(body);
      out.flush();
      meanwhile.run(socket);
    }
  }

  /**
   * The call is queued: it won the probe, user u has spent the tier's 2 requests, and it waits in
   * {@code sidecar}'s admission queue (its turn would come on the test's clock, which does not move),
   * unanswered.
   */
  private static void queuedAndNotAnswered(Sidecar sidecar, Socket socket) throws Exception {
    await().atMost(Duration.ofSeconds(5)).until(() -> sidecar.queuedRequests() == 1);
    assertThat(socket.getInputStream().available()).as("the probe was answered instead of queued").isZero();
  }

  @Test
  void withoutRedisAProbeWhoseClientLeftTheAdmissionQueueIsHandedOn() throws Exception {
    Sidecar alone = queueing("queue-alone", false);
    halfOpen(List.of(alone));
    callThenLeave(alone, socket -> queuedAndNotAnswered(alone, socket));
    // its client gone, the call leaves the queue
    await().atMost(Duration.ofSeconds(2)).until(() -> alone.queuedRequests() == 0);
    assertThat(stub.requestCount()).as("the queued probe never reached the provider").isEqualTo(2);
    // another user's call probes (before, the probe stayed held until a provider answer no call could get)
    await().atMost(Duration.ofSeconds(2)).until(() -> callAs(alone, "w").statusCode() == 200);
    assertThat(stub.requestCount()).isEqualTo(3);
  }

  @Test
  void aProbeWhoseClientLeftTheAdmissionQueueIsHandedOnInRedis() throws Exception {
    Sidecar member = queueing("queue-shared", true);
    halfOpen(List.of(member));
    callThenLeave(member, socket -> queuedAndNotAnswered(member, socket));
    await().atMost(Duration.ofSeconds(2)).until(() -> member.queuedRequests() == 0);
    RedisKeys keys = new RedisKeys(member.policy().id());
    // released at once (before: kept until it expired, 30 s of real time)
    await().atMost(Duration.ofSeconds(2)).until(() -> fixture.redis("GET", keys.cooldownProbe(SCOPE)) == null);
    assertThat(stub.requestCount()).as("the queued probe never reached the provider").isEqualTo(2);
    assertThat(callAs(member, "w").statusCode()).isEqualTo(200);
  }

  /**
   * Half-open lets one request test the provider: a probe already sent to the provider whose client
   * then leaves keeps the probe (the provider may be working on it), so the next request is not a
   * second probe at the provider.
   */
  @Test
  void aProbeAlreadyAtTheProviderKeepsTheProbeWhenItsClientLeaves() throws Exception {
    Sidecar member = member("inflight");
    halfOpen(List.of(member));
    stub.responseDelayMs = 5_000; // the provider takes its time over the probe
    try {
      callThenLeave(member, socket -> await().atMost(Duration.ofSeconds(3)).until(() -> stub.requestCount() == 3));
      // the sidecar settles the call when it sees the connection close
      await().atMost(Duration.ofSeconds(2)).until(() -> member.metrics().inflight().get() == 0);
      HttpResponse<String> second = callAs(member, "w");
      assertThat(second.statusCode()).isEqualTo(429);
      assertThat(limitedBy(second)).isEqualTo("upstream.cooldown");
      assertThat(stub.requestCount()).as("no second probe while the first is at the provider").isEqualTo(3);
      RedisKeys keys = new RedisKeys(member.policy().id());
      assertThat(fixture.redis("GET", keys.cooldownProbe(SCOPE))).isNotNull();
    } finally {
      stub.responseDelayMs = 0;
    }
  }
}
