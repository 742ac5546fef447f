package dev.ratekeeper.demo;

import dev.ratekeeper.sidecar.config.SidecarConfig;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.testkit.StubLlmUpstream;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import redis.embedded.RedisServer;

/**
 * The local demo: a real Redis (embedded), a stub provider, fleets of sidecars started from
 * {@code examples/policy.yaml}, and simulated agents. Each scenario runs twice: with per-process
 * counters (each sidecar on its own, as replicas limit themselves today) and with Ratekeeper (every
 * sidecar on one Redis). With {@code --real}, a sidecar forwards a few requests to the real
 * Anthropic API with the key in {@code ANTHROPIC_API_KEY}.
 */
public final class Demo {
  private static final String HAIKU = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":%d,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"Say hello in five words.\"}]}";

  private static final String GPT4O = "{\"model\":\"gpt-4o\",\"max_tokens\":20000,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"plan the next step of the research\"}]}";
  private static final String SONNET = "{\"model\":\"claude-sonnet-4-6\",\"max_tokens\":100,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"Plan a trip.\"}]}";

  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private final List<Vertx> vertxes = new ArrayList<>();
  private final List<Sidecar> sidecars = new ArrayList<>();
  private final List<String[]> table = new ArrayList<>();
  private final Path policy;
  private String redisUrl;
  private StubLlmUpstream stub;

  private Demo(Path policy) {
    this.policy = policy;
  }

  public static void main(String[] args) throws Exception {
    System.setProperty("java.util.logging.SimpleFormatter.format", "%4$s %5$s%6$s%n");
    java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.SEVERE);
    Path policy = Path.of("examples/policy.yaml");
    boolean real = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--policy-file" -> policy = Path.of(args[++i]);
        case "--real" -> real = true;
        default -> {
          System.err.println("usage: demo [--policy-file examples/policy.yaml] [--real]");
          System.exit(2);
        }
      }
    }
    Demo demo = new Demo(policy);
    int status = 0;
    try {
      status = real ? demo.runReal() : demo.run();
    } finally {
      demo.close();
    }
    System.exit(status);
  }

  private int run() throws Exception {
    long started = System.nanoTime();
    say("Ratekeeper demo: policy " + policy + ", embedded Redis, stub provider (Anthropic + OpenAI wire formats)");
    RedisServer redis = startRedis();
    stub = StubLlmUpstream.start();
    stub.recordAtMost(0);
    try {
      oneUserManyReplicas();
      tierShareOfTheOrgQuota();
      perTierThrottling();
      budgetAndWarning();
      modelFallback();
      providerCooldown();
      agentRun();
      printTable();
      say(String.format("done in %.1f s", (System.nanoTime() - started) / 1e9));
      return 0;
    } finally {
      redis.stop();
    }
  }

  /** Scenario 1: one free user (burst 5) spread over 4 replicas. */
  private void oneUserManyReplicas() throws Exception {
    say("[1/7] one free user, 4 agent replicas, 20 requests one after another (free tier: 5 at once, then one every 6 s)");
    int naive = admitted(fleet(4, null, "naive-1"), 20, i -> "frank", "naive-1", 1);
    int shared = admitted(fleet(4, redisUrl, "shared-1"), 20, i -> "frank", "shared-1", 1);
    row("one free user, 4 replicas", "5 (+1/6s)", naive, shared);
  }

  /** Scenario 2: 40 free users on 8 replicas; the free tier may use 20% of the org's 500 requests/min. */
  private void tierShareOfTheOrgQuota() throws Exception {
    say("[2/7] 40 free users, 8 agent replicas, 200 requests (free tier together: 20% of 500/min = 100)");
    int naive = admitted(fleet(8, null, "naive-2"), 200, i -> "user-" + (i % 40), "naive-2", 16);
    int shared = admitted(fleet(8, redisUrl, "shared-2"), 200, i -> "user-" + (i % 40), "shared-2", 16);
    row("free tier's share of the org quota, 8 replicas", "100 (+1.7/s)", naive, shared);
  }

  /** Scenario 3: one user of each tier sends 30 requests at once. */
  private void perTierThrottling() throws Exception {
    say("[3/7] per-tier throttling: alice (premium), bob (pro), frank (free) each send 25 requests, one at a time;"
        + " pro may wait up to 2 s for capacity (maxQueueWait)");
    List<Sidecar> fleet = fleet(3, redisUrl, "tiers");
    String[][] users = {{"alice", "premium", "25"}, {"bob", "pro", "20 + waits"}, {"frank", "free", "5"}};
    ExecutorService agents = Executors.newFixedThreadPool(3);
    List<Future<Integer>> results = new ArrayList<>();
    for (String[] user : users) {
      results.add(agents.submit(() -> admitted(fleet, 25, i -> user[0], "tiers-" + user[0], 1)));
    }
    for (int u = 0; u < users.length; u++) {
      row("tier " + users[u][1] + " (" + users[u][0] + "), 25 requests", users[u][2], -1, results.get(u).get());
    }
    agents.shutdown();
  }

  /**
   * Scenario 4: spend against a budget. The example's free budget ($1/month) cannot be reached in
   * seconds under its own token quotas, so this scenario lowers it to $0.02 (said in the output).
   */
  private void budgetAndWarning() throws Exception {
    say("[4/7] budget: free tier's monthly budget lowered to $0.02 for the demo; stub reports 2000 input + 1000"
        + " output tokens of claude-haiku-4-5 ($0.007 a request)");
    String yaml = Files.readString(policy).replace("budget: {usd: \"1.00\", period: Monthly}",
        "budget: {usd: \"0.02\", period: Monthly}").replaceFirst("name: agents", "name: agents-budget");
    Path budgetPolicy = Files.createTempFile("budget-demo", ".yaml");
    Files.writeString(budgetPolicy, yaml);
    stub.inputTokens = 2000;
    stub.outputTokens = 1000;
    Sidecar sidecar = start(budgetPolicy, redisUrl, "budget");
    StringBuilder log = new StringBuilder();
    for (int i = 1; i <= 4; i++) {
      HttpResponse<String> resp = post(sidecar, HAIKU.formatted(2000), "gina");
      String remaining = resp.headers().firstValue("x-ratekeeper-budget-remaining-usd").orElse("-");
      String warning = resp.headers().firstValue("x-ratekeeper-budget-warning").orElse("");
      String limited = resp.headers().firstValue("x-ratekeeper-limited-by").orElse("");
      String retry = resp.headers().firstValue("x-should-retry").orElse("");
      say(String.format("      request %d: %d  remaining $%s %s%s%s", i, resp.statusCode(), remaining,
          warning.isEmpty() ? "" : " warning: " + warning, limited.isEmpty() ? "" : " limited-by: " + limited,
          retry.isEmpty() ? "" : " x-should-retry: " + retry));
      log.append(resp.statusCode()).append(i < 4 ? " " : "");
      awaitSettled(sidecar);
    }
    stub.inputTokens = 25;
    stub.outputTokens = 15;
    row("budget $0.02, requests of ~$0.007 (statuses)", "2 + warn", -1, -1);
    table.get(table.size() - 1)[3] = log.toString();
  }

  /**
   * Scenario 5: claude-sonnet-4-6 falls back to claude-haiku-4-5 when its own quota is spent. The
   * example's Sonnet quota (200/min) is lowered to 5/min here so the fallback shows within a second.
   */
  private void modelFallback() throws Exception {
    say("[5/7] model fallback: Sonnet's quota lowered to 5/min for the demo; bob (pro) sends 8 Sonnet requests");
    String yaml = Files.readString(policy).replaceFirst("name: agents", "name: agents-fallback")
        .replace("requests: {perMinute: 200}", "requests: {perMinute: 5}");
    Path file = Files.createTempFile("fallback-demo", ".yaml");
    Files.writeString(file, yaml);
    Sidecar sidecar = start(file, redisUrl, "fallback");
    int sonnet = 0;
    int haiku = 0;
    for (int i = 0; i < 8; i++) {
      HttpResponse<String> resp = post(sidecar, SONNET, "bob");
      String fallback = resp.headers().firstValue("x-ratekeeper-model-fallback").orElse("");
      if (resp.statusCode() == 200 && fallback.isEmpty()) {
        sonnet++;
      } else if (resp.statusCode() == 200) {
        haiku++;
        if (haiku == 1) {
          say("      request " + (i + 1) + ": 200 x-ratekeeper-model-fallback: " + fallback);
        }
      }
    }
    row("Sonnet quota 5/min, 8 requests: sonnet / haiku", "5 / 3", -1, -1);
    table.get(table.size() - 1)[3] = sonnet + " / " + haiku;
  }

  /** Scenario 6: the provider answers one 429 with retry-after 2; every sidecar holds back for 2 s. */
  private void providerCooldown() throws Exception {
    say("[6/7] provider 429 with retry-after: 2, 4 sidecars keep calling for 1.5 s");
    List<Sidecar> fleet = fleet(4, redisUrl, "cooldown");
    stub.enqueue(429, Map.of("retry-after", "2", "content-type", "application/json"),
        "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"provider says slow down\"}}");
    long before = stub.requestCount();
    int first = post(fleet.get(0), HAIKU.formatted(5), "alice").statusCode();
    long start = System.nanoTime();
    int sent = 0;
    int coolingDown = 0;
    while (System.nanoTime() - start < 1_500_000_000L) {
      HttpResponse<String> resp = post(fleet.get(sent++ % 4), HAIKU.formatted(5), "alice");
      if (resp.headers().firstValue("x-ratekeeper-limited-by").orElse("").equals("upstream.cooldown")) {
        coolingDown++;
      }
    }
    long providerCalls = stub.requestCount() - before - 1;
    say(String.format("      first call: %d from the provider; then %d calls across 4 sidecars: %d answered"
        + " 429 upstream.cooldown, %d reached the provider", first, sent, coolingDown, providerCalls));
    int after = -1;
    for (int i = 0; i < 40 && after != 200; i++) {
      Thread.sleep(100);
      after = post(fleet.get(3), HAIKU.formatted(5), "alice").statusCode();
    }
    say(String.format("      after the cooldown: %d, %.1f s after the provider's 429", after,
        (System.nanoTime() - start) / 1e9));
    row("provider 429 (retry-after 2): calls to it in 1.5 s", "0", -1, (int) providerCalls);
  }

  /**
   * Scenario 7: an agent run capped at $1.00 (examples/agent-runs.yaml): gpt-4o while the run's
   * spend is under 80 %, then its calls go to gpt-4o-mini, until the run's budget is spent. The stub
   * reports 10,000 input + 20,000 output tokens a call ($0.225 on gpt-4o, $0.0135 on gpt-4o-mini).
   */
  private void agentRun() throws Exception {
    say("[7/7] agent run: examples/agent-runs.yaml (run $1.00, downgrade gpt-4o -> gpt-4o-mini at 80 %);"
        + " one run calls gpt-4o until refused");
    Path runs = policy.toAbsolutePath().getParent().resolve("agent-runs.yaml");
    stub.inputTokens = 10_000;
    stub.outputTokens = 20_000;
    Sidecar sidecar = start(runs, redisUrl, "runs");
    int full = 0;
    int downgraded = 0;
    String refused = "-";
    for (int i = 1; i <= 60; i++) {
      HttpResponse<String> resp = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
              + sidecar.proxyPort() + "/openai/v1/chat/completions")).header("content-type", "application/json")
          .header("X-Ratekeeper-User", "ivy").header("X-Ratekeeper-Run", "research-42")
          .timeout(Duration.ofSeconds(30)).POST(HttpRequest.BodyPublishers.ofString(GPT4O)).build(),
          HttpResponse.BodyHandlers.ofString());
      String fallback = resp.headers().firstValue("x-ratekeeper-model-fallback").orElse("");
      String warning = resp.headers().firstValue("x-ratekeeper-budget-warning").orElse("");
      if (resp.statusCode() != 200) {
        refused = resp.statusCode() + " " + resp.headers().firstValue("x-ratekeeper-limited-by").orElse("");
        say(String.format("      call %d: %s, x-should-retry: %s", i, refused,
            resp.headers().firstValue("x-should-retry").orElse("-")));
        break;
      }
      if (fallback.isEmpty()) {
        full++;
      } else if (++downgraded == 1) {
        say(String.format("      call %d: 200 x-ratekeeper-model-fallback: %s%s", i, fallback,
            warning.isEmpty() ? "" : ", warning: " + warning));
      }
      awaitSettled(sidecar);
    }
    stub.inputTokens = 25;
    stub.outputTokens = 15;
    say(String.format("      %d calls on gpt-4o, %d downgraded to gpt-4o-mini, then %s", full, downgraded, refused));
    row("agent run $1.00: gpt-4o / gpt-4o-mini / then", "80% / $1.00", -1, -1);
    table.get(table.size() - 1)[3] = full + " / " + downgraded + " / " + refused.split(" ")[0];
  }

  private void awaitSettled(Sidecar sidecar) throws InterruptedException {
    for (int i = 0; i < 200 && sidecar.metrics().inflight().get() > 0; i++) {
      Thread.sleep(5);
    }
    Thread.sleep(20); // reconcile is one Redis round trip after the response ends
  }

  private int runReal() throws Exception {
    String key = System.getenv("ANTHROPIC_API_KEY");
    if (key == null || key.isBlank()) {
      System.err.println("--real needs ANTHROPIC_API_KEY in the environment");
      return 2;
    }
    say("Ratekeeper demo against the real Anthropic API (in-process store, policy " + policy + ")");
    Sidecar sidecar = start(policy, null, "real", Map.of("RATEKEEPER_UPSTREAM_KEY_ANTHROPIC", key));
    for (int i = 1; i <= 3; i++) {
      HttpResponse<String> resp = post(sidecar, HAIKU.formatted(30), "frank");
      say("request " + i + ": " + resp.statusCode() + " remaining-requests="
          + resp.headers().firstValue("x-ratekeeper-remaining-requests").orElse("-") + " budget-remaining=$"
          + resp.headers().firstValue("x-ratekeeper-budget-remaining-usd").orElse("-"));
    }
    return 0;
  }

  private RedisServer startRedis() throws IOException {
    int port;
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort();
    }
    RedisServer redis = RedisServer.newRedisServer().port(port).bind("127.0.0.1").setting("save \"\"")
        .setting("appendonly no").build();
    redis.start();
    redisUrl = "redis://127.0.0.1:" + port;
    say("      Redis " + redisUrl + ", stub provider on loopback");
    return redis;
  }

  /** {@code n} sidecars from the policy with the given store (null: each its own in-process counters). */
  private List<Sidecar> fleet(int n, String redis, String name) throws Exception {
    Path file = renamed(name);
    List<Sidecar> fleet = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      fleet.add(start(file, redis, name + "-" + i));
    }
    return fleet;
  }

  /** The policy under another name, so each scenario starts from empty counters. */
  private Path renamed(String name) throws IOException {
    Path file = Files.createTempFile(name, ".yaml");
    Files.writeString(file, Files.readString(policy).replaceFirst("name: agents", "name: " + name));
    file.toFile().deleteOnExit();
    return file;
  }

  private Sidecar start(Path policyFile, String redis, String id) throws Exception {
    return start(policyFile, redis, id, Map.of());
  }

  private Sidecar start(Path policyFile, String redis, String id, Map<String, String> env) throws Exception {
    List<String> args = new ArrayList<>(List.of("--policy-file", policyFile.toString(), "--listen", "127.0.0.1:0",
        "--admin-listen", "127.0.0.1:0", "--sidecar-id", id));
    if (redis != null) {
      args.addAll(List.of("--redis", redis));
    }
    if (stub != null && env.isEmpty()) {
      args.addAll(List.of("--upstream", "anthropic=" + stub.url(), "--upstream", "openai=" + stub.url()));
    }
    Vertx vertx = Vertx.vertx();
    vertxes.add(vertx);
    Sidecar sidecar = Sidecar.start(vertx, SidecarConfig.parse(args.toArray(String[]::new), new HashMap<>(env)),
        dev.ratekeeper.sidecar.time.SidecarClock.SYSTEM)
        .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    sidecars.add(sidecar);
    return sidecar;
  }

  /** Sends {@code total} requests round-robin over the fleet from {@code agents} concurrent agents; returns how many got 200. */
  private int admitted(List<Sidecar> fleet, int total, java.util.function.IntFunction<String> user, String label,
      int concurrency) throws Exception {
    ExecutorService agents = Executors.newFixedThreadPool(concurrency);
    long started = System.nanoTime();
    List<Future<Integer>> statuses = new ArrayList<>();
    for (int i = 0; i < total; i++) {
      Sidecar target = fleet.get(i % fleet.size());
      String who = user.apply(i);
      statuses.add(agents.submit(() -> post(target, HAIKU.formatted(50), who).statusCode()));
    }
    int ok = 0;
    for (Future<Integer> status : statuses) {
      ok += status.get() == 200 ? 1 : 0;
    }
    agents.shutdown();
    say(String.format("      %-10s %3d of %d admitted in %.1f s", label, ok, total, (System.nanoTime() - started) / 1e9));
    return ok;
  }

  private HttpResponse<String> post(Sidecar sidecar, String body, String user) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sidecar.proxyPort() + "/anthropic/v1/messages"))
        .header("content-type", "application/json").header("anthropic-version", "2023-06-01")
        .header("X-Ratekeeper-User", user).timeout(Duration.ofSeconds(30))
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }

  private void row(String scenario, String limit, int naive, int shared) {
    table.add(new String[] {scenario, limit, naive < 0 ? "-" : Integer.toString(naive),
        shared < 0 ? "-" : Integer.toString(shared)});
  }

  private void printTable() {
    System.out.println();
    String format = "%-48s %-14s %-22s %-22s%n";
    System.out.printf(format, "scenario", "limit", "per-process counters", "Ratekeeper (one Redis)");
    System.out.printf(format, "-".repeat(48), "-".repeat(14), "-".repeat(22), "-".repeat(22));
    for (String[] r : table) {
      System.out.printf(format, r[0], r[1], r[2], r[3]);
    }
    System.out.println();
  }

  private static void say(String line) {
    System.out.println(line);
    System.out.flush();
  }

  private void close() {
    sidecars.forEach(Sidecar::close);
    vertxes.forEach(v -> v.close());
    if (stub != null) {
      stub.close();
    }
  }
}
