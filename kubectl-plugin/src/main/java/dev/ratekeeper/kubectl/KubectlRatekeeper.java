package dev.ratekeeper.kubectl;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Function;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.ScopeType;

/**
 * {@code kubectl ratekeeper}: why a user is throttled ({@code explain}), who spends
 * ({@code top}), which sidecars enforce what ({@code status}). A thin formatter: every answer comes
 * from the operator's aggregated API {@code query.ratekeeper.dev/v1alpha1} through
 * {@code kubectl get --raw}, so the API server authenticates the user and the operator checks the
 * user's own RBAC on each policy. Read-only.
 */
@Command(name = "kubectl ratekeeper", mixinStandardHelpOptions = true, version = "kubectl-ratekeeper 0.1.0",
    description = "Why was a user throttled? Who spends? Which sidecars enforce which revision?",
    subcommands = {KubectlRatekeeper.Explain.class, KubectlRatekeeper.Top.class, KubectlRatekeeper.Status.class})
public final class KubectlRatekeeper implements Callable<Integer> {
  static final String API = "/apis/query.ratekeeper.dev/v1alpha1";
  static final String POLICIES = "ratelimitpolicies.ratekeeper.dev";
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(names = "--kubeconfig", scope = ScopeType.INHERIT, description = "kubeconfig file (as kubectl)")
  String kubeconfig;
  @Option(names = "--context", scope = ScopeType.INHERIT, description = "kubeconfig context (as kubectl)")
  String context;
  @Option(names = {"-n", "--namespace"}, scope = ScopeType.INHERIT,
      description = "the policy's namespace (default: the context's namespace, else default)")
  String namespace;
  @Option(names = {"-o", "--output"}, scope = ScopeType.INHERIT, defaultValue = "table",
      description = "table or json (the API's own answer)")
  String output;

  private final PrintStream out;
  private final PrintStream err;
  private final Function<List<String>, Kubectl> kubectls;

  KubectlRatekeeper(PrintStream out, PrintStream err, Function<List<String>, Kubectl> kubectls) {
    this.out = out;
    this.err = err;
    this.kubectls = kubectls;
  }

  public static void main(String[] args) {
    System.exit(run(args, System.getenv(), System.out, System.err));
  }

  /** Runs one command line; returns the exit status (0 done, 1 the API refused or failed, 2 bad usage). */
  public static int run(String[] args, Map<String, String> env, PrintStream out, PrintStream err) {
    String binary = env.getOrDefault("KUBECTL", "kubectl");
    KubectlRatekeeper root = new KubectlRatekeeper(out, err, flags -> new Kubectl(binary, flags));
    CommandLine line = new CommandLine(root);
    line.setOut(new java.io.PrintWriter(out, true));
    line.setErr(new java.io.PrintWriter(err, true));
    return line.execute(args);
  }

  @Override
  public Integer call() {
    CommandLine.usage(this, out);
    return 2;
  }

  Kubectl kubectl() {
    List<String> flags = new ArrayList<>();
    if (kubeconfig != null) {
      flags.add("--kubeconfig=" + kubeconfig);
    }
    if (context != null) {
      flags.add("--context=" + context);
    }
    return kubectls.apply(flags);
  }

  String namespace(Kubectl kubectl) {
    if (namespace != null && !namespace.isBlank()) {
      return namespace;
    }
    Kubectl.Result current = kubectl.run(List.of("config", "view", "--minify", "-o", "jsonpath={..namespace}"));
    String fromContext = current.ok() ? current.out().strip() : "";
    return fromContext.isEmpty() ? "default" : fromContext;
  }

  boolean json() {
    if (!"table".equals(output) && !"json".equals(output)) {
      throw new CommandLine.ParameterException(new CommandLine(this), "--output must be table or json, not " + output);
    }
    return "json".equals(output);
  }

  static String policyPath(String namespace, String policy, String view) {
    return API + "/namespaces/" + namespace + "/ratelimitpolicies/" + policy + "/" + view;
  }

  /** A GET through the API server; prints kubectl's own error (with a hint) and returns null when refused. */
  JsonNode get(Kubectl kubectl, String path) {
    Kubectl.Result result = kubectl.getRaw(path);
    if (!result.ok()) {
      String message = result.err().strip();
      err.println(message.isEmpty() ? "kubectl get --raw " + path + " failed (exit " + result.exit() + ")" : message);
      if (message.contains("the server could not find the requested resource") && !message.contains("policy ")) {
        err.println("hint: is the operator's query API installed and available? "
            + "kubectl get apiservice v1alpha1.query.ratekeeper.dev (chart value query.enabled)");
      }
      return null;
    }
    try {
      return JSON.readTree(result.out());
    } catch (IOException e) {
      err.println("the API answered something that is not JSON: " + e.getMessage());
      return null;
    }
  }

  int print(JsonNode answer, java.util.function.BiConsumer<JsonNode, PrintStream> view) {
    if (answer == null) {
      return 1;
    }
    if (json()) {
      out.println(answer.toPrettyString());
    } else {
      view.accept(answer, out);
    }
    return 0;
  }

  @Command(name = "explain", mixinStandardHelpOptions = true,
      description = "Every limit that applies to a user: limit, used, remaining, refill/reset, blocking now.")
  static final class Explain implements Callable<Integer> {
    @ParentCommand KubectlRatekeeper root;
    @Parameters(index = "0", paramLabel = "POLICY", description = "the RateLimitPolicy") String policy;
    @Option(names = "--user", required = true, description = "the end user's id (as the agent names it)") String user;
    @Option(names = "--tier", description = "explain as this tier (default: the user's own)") String tier;
    @Option(names = "--model", description = "only this model's quotas (default: every models[] entry)") String model;
    @Option(names = "--run", description = "also the caps of this agent run (tiers[].run)") String run;

    @Override
    public Integer call() {
      root.json();
      Kubectl kubectl = root.kubectl();
      StringBuilder query = new StringBuilder("?user=").append(encode(user));
      if (tier != null) {
        query.append("&tier=").append(encode(tier));
      }
      if (model != null) {
        query.append("&model=").append(encode(model));
      }
      if (run != null) {
        query.append("&run=").append(encode(run));
      }
      return root.print(root.get(kubectl, policyPath(root.namespace(kubectl), policy, "explain") + query),
          Views::explain);
    }
  }

  @Command(name = "top", mixinStandardHelpOptions = true,
      description = "Spend this period and the heaviest users of a policy.")
  static final class Top implements Callable<Integer> {
    @ParentCommand KubectlRatekeeper root;
    @Parameters(index = "0", paramLabel = "POLICY", description = "the RateLimitPolicy") String policy;

    @Override
    public Integer call() {
      root.json();
      Kubectl kubectl = root.kubectl();
      return root.print(root.get(kubectl, policyPath(root.namespace(kubectl), policy, "top")), Views::top);
    }
  }

  @Command(name = "status", mixinStandardHelpOptions = true,
      description = "Each policy's revision, the sidecars enforcing it, and the revision and version each one runs.")
  static final class Status implements Callable<Integer> {
    @ParentCommand KubectlRatekeeper root;
    @Parameters(index = "0", arity = "0..1", paramLabel = "POLICY", description = "one policy (default: all)")
    String policy;
    @Option(names = {"-A", "--all-namespaces"}, description = "policies of every namespace") boolean all;

    @Override
    public Integer call() {
      boolean json = root.json();
      Kubectl kubectl = root.kubectl();
      List<String> args = new ArrayList<>(List.of("get", POLICIES));
      if (policy != null) {
        args.add(policy);
      }
      if (all && policy == null) {
        args.add("--all-namespaces");
      } else {
        args.add("--namespace=" + root.namespace(kubectl));
      }
      args.add("-o");
      args.add("json");
      Kubectl.Result listed = kubectl.run(args);
      if (!listed.ok()) {
        root.err.println(listed.err().strip());
        return 1;
      }
      JsonNode items;
      try {
        JsonNode parsed = JSON.readTree(listed.out());
        items = parsed.has("items") ? parsed.path("items") : JSON.createArrayNode().add(parsed);
      } catch (IOException e) {
        root.err.println("kubectl get " + POLICIES + " answered something that is not JSON: " + e.getMessage());
        return 1;
      }
      int exit = 0;
      com.fasterxml.jackson.databind.node.ArrayNode answers = JSON.createArrayNode();
      Table table = new Table("NAMESPACE", "POLICY", "REVISION", "ACCEPTED", "ENFORCED", "SIDECARS", "SYNCED",
          "VERSIONS");
      List<String> details = new ArrayList<>();
      for (JsonNode item : items) {
        String ns = item.path("metadata").path("namespace").asText();
        String name = item.path("metadata").path("name").asText();
        JsonNode status = item.path("status");
        JsonNode enforcement = root.get(kubectl, policyPath(ns, name, "enforcement"));
        if (enforcement == null) {
          exit = 1;
        } else {
          answers.add(enforcement);
        }
        table.row(ns, name, text(status.path("revision")), condition(status, "Accepted"),
            condition(status, "Enforced"), enforcement == null ? null : enforcement.path("live").asInt(),
            enforcement == null ? null : enforcement.path("synced").asInt(), versions(enforcement));
        if (enforcement != null) {
          for (JsonNode sidecar : enforcement.path("sidecars")) {
            details.add("  " + ns + "/" + name + "  " + (sidecar.hasNonNull("mode") ? sidecar.path("mode").asText()
                : "sidecar") + " " + sidecar.path("id").asText() + "  revision "
                + (sidecar.hasNonNull("revision") ? sidecar.path("revision").asText() : "(none reported)")
                + "  version " + (sidecar.hasNonNull("version") ? sidecar.path("version").asText() : "(not reported)")
                + "  last seen " + Table.duration(sidecar.path("secondsAgo").asLong() * 1000) + " ago"
                + (sidecar.path("live").asBoolean() ? "" : "  (not live)"));
          }
        }
      }
      if (json) {
        root.out.println(answers.toPrettyString());
        return exit;
      }
      if (items.isEmpty()) {
        root.out.println("No RateLimitPolicy found.");
        return exit;
      }
      table.print(root.out);
      if (!details.isEmpty()) {
        root.out.println();
        details.forEach(root.out::println);
      }
      return exit;
    }

    /**
     * The versions live sidecars run, distinct and sorted, comma-separated ({@value #UNREPORTED} for
     * sidecars too old to report one); null when none is live or the API did not answer.
     */
    static String versions(JsonNode enforcement) {
      if (enforcement == null) {
        return null;
      }
      java.util.TreeSet<String> versions = new java.util.TreeSet<>();
      for (JsonNode sidecar : enforcement.path("sidecars")) {
        if (sidecar.path("live").asBoolean()) {
          versions.add(sidecar.hasNonNull("version") ? sidecar.path("version").asText() : UNREPORTED);
        }
      }
      return versions.isEmpty() ? null : String.join(",", versions);
    }

    static final String UNREPORTED = "unreported";

    private static String text(JsonNode node) {
      return node.isMissingNode() || node.isNull() ? null : node.asText();
    }

    private static String condition(JsonNode status, String type) {
      for (JsonNode c : status.path("conditions")) {
        if (type.equals(c.path("type").asText())) {
          return c.path("status").asText() + (c.hasNonNull("reason") ? " (" + c.path("reason").asText() + ")" : "");
        }
      }
      return null;
    }
  }

  private static String encode(String value) {
    return URLEncoder.encode(value, StandardCharsets.UTF_8);
  }
}
