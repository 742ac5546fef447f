package dev.ratekeeper.sidecar.wire;

import dev.ratekeeper.policy.api.UnmeterableEndpoint;
import dev.ratekeeper.policy.api.UpstreamFormat;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * Every provider endpoint Ratekeeper knows, and what it does with each: the table docs/endpoints.md
 * shows. A canonical upstream-relative path (no query) and a method are classified as
 * <ul>
 *   <li>{@link Metered}: admitted in full (model allow-list, output cap, token quotas, budgets,
 *       concurrency) — Anthropic messages and message batches, OpenAI chat completions, responses,
 *       completions, embeddings;</li>
 *   <li>{@link Free}: free and read-only (model lists, token counting, reading batches and files):
 *       follows the policy's {@code unmeteredPaths};</li>
 *   <li>{@link Unmeterable}: billed, but its cost cannot be known from the request (file uploads,
 *       OpenAI batches, images, audio, realtime, fine-tuning): refused unless the policy's
 *       {@code allowUnmeterable} lists its group;</li>
 *   <li>{@link WrongMethod}: a known path called with a method it does not take (405);</li>
 *   <li>{@link Unknown}: not in the table. GET and HEAD follow {@code unmeteredPaths} (reading is
 *       never billed); every other method is refused.</li>
 * </ul>
 * Paths are matched segment by segment; {@code *} stands for one id segment. Work is bounded by
 * the table's size and the path's length.
 */
public final class EndpointTable {
  private EndpointTable() {}

  /** What a path and method are. */
  public sealed interface Classification permits Metered, Free, Unmeterable, WrongMethod, Unknown {}

  public record Metered(Endpoint endpoint) implements Classification {}

  public record Free() implements Classification {}

  public record Unmeterable(UnmeterableEndpoint group) implements Classification {}

  /** {@code allowed}: the methods the path takes, for the {@code allow} header. */
  public record WrongMethod(Set<String> allowed) implements Classification {}

  /** {@code readOnly}: GET or HEAD. */
  public record Unknown(boolean readOnly) implements Classification {}

  private record Row(UpstreamFormat format, String method, String[] segments, Classification kind) {}

  private static final Free FREE = new Free();
  private static final List<Row> ROWS = new ArrayList<>();

  static {
    UpstreamFormat a = UpstreamFormat.ANTHROPIC;
    metered(a, Endpoint.ANTHROPIC_MESSAGES);
    metered(a, Endpoint.ANTHROPIC_MESSAGE_BATCHES);
    free(a, "POST", "/v1/messages/count_tokens");
    free(a, "GET", "/v1/messages/batches");
    free(a, "GET", "/v1/messages/batches/*");
    free(a, "DELETE", "/v1/messages/batches/*");
    free(a, "GET", "/v1/messages/batches/*/results");
    free(a, "POST", "/v1/messages/batches/*/cancel");
    free(a, "GET", "/v1/models");
    free(a, "GET", "/v1/models/*");
    unmeterable(a, "POST", "/v1/files", UnmeterableEndpoint.Files);
    free(a, "GET", "/v1/files");
    free(a, "GET", "/v1/files/*");
    free(a, "DELETE", "/v1/files/*");
    free(a, "GET", "/v1/files/*/content");

    UpstreamFormat o = UpstreamFormat.OPENAI;
    metered(o, Endpoint.OPENAI_CHAT);
    metered(o, Endpoint.OPENAI_RESPONSES);
    metered(o, Endpoint.OPENAI_COMPLETIONS);
    metered(o, Endpoint.OPENAI_EMBEDDINGS);
    free(o, "GET", "/v1/chat/completions");
    free(o, "GET", "/v1/chat/completions/*");
    free(o, "DELETE", "/v1/chat/completions/*");
    free(o, "GET", "/v1/chat/completions/*/messages");
    free(o, "POST", "/v1/responses/input_tokens");
    free(o, "GET", "/v1/responses/*");
    free(o, "DELETE", "/v1/responses/*");
    free(o, "GET", "/v1/responses/*/input_items");
    free(o, "POST", "/v1/responses/*/cancel");
    free(o, "POST", "/v1/moderations");
    free(o, "GET", "/v1/models");
    free(o, "GET", "/v1/models/*");
    unmeterable(o, "POST", "/v1/batches", UnmeterableEndpoint.Batches);
    free(o, "GET", "/v1/batches");
    free(o, "GET", "/v1/batches/*");
    free(o, "POST", "/v1/batches/*/cancel");
    unmeterable(o, "POST", "/v1/files", UnmeterableEndpoint.Files);
    free(o, "GET", "/v1/files");
    free(o, "GET", "/v1/files/*");
    free(o, "DELETE", "/v1/files/*");
    free(o, "GET", "/v1/files/*/content");
    unmeterable(o, "POST", "/v1/uploads", UnmeterableEndpoint.Files);
    unmeterable(o, "POST", "/v1/uploads/*/parts", UnmeterableEndpoint.Files);
    unmeterable(o, "POST", "/v1/uploads/*/complete", UnmeterableEndpoint.Files);
    free(o, "POST", "/v1/uploads/*/cancel");
    for (String images : new String[] {"generations", "edits", "variations"}) {
      unmeterable(o, "POST", "/v1/images/" + images, UnmeterableEndpoint.Images);
    }
    for (String audio : new String[] {"speech", "transcriptions", "translations"}) {
      unmeterable(o, "POST", "/v1/audio/" + audio, UnmeterableEndpoint.Audio);
    }
    for (String method : new String[] {"GET", "POST"}) {
      unmeterable(o, method, "/v1/realtime", UnmeterableEndpoint.Realtime);
      unmeterable(o, method, "/v1/realtime/*", UnmeterableEndpoint.Realtime);
    }
    unmeterable(o, "POST", "/v1/fine_tuning/jobs", UnmeterableEndpoint.FineTuning);
    free(o, "GET", "/v1/fine_tuning/jobs");
    free(o, "GET", "/v1/fine_tuning/jobs/*");
    free(o, "POST", "/v1/fine_tuning/jobs/*/cancel");

    azureOpenAi();
  }

  /**
   * Azure OpenAI: the deployment-scoped paths ({@code /openai/deployments/{deployment}/...}, the
   * deployment in the path) and the paths without one ({@code /openai/responses} and the v1 API
   * {@code /openai/v1/...}, the deployment in the body's {@code model}); each metered path is the
   * OpenAI endpoint of the same wire. {@code api-version} is a query parameter, forwarded as sent.
   */
  private static void azureOpenAi() {
    UpstreamFormat z = UpstreamFormat.AZURE_OPENAI;
    String deployment = AzureDeployments.DEPLOYMENTS_PREFIX + "*";
    metered(z, deployment + "/chat/completions", Endpoint.OPENAI_CHAT);
    metered(z, deployment + "/completions", Endpoint.OPENAI_COMPLETIONS);
    metered(z, deployment + "/embeddings", Endpoint.OPENAI_EMBEDDINGS);
    for (String api : new String[] {"/openai", "/openai/v1"}) {
      metered(z, api + "/responses", Endpoint.OPENAI_RESPONSES);
      free(z, "POST", api + "/responses/input_tokens");
      free(z, "GET", api + "/responses/*");
      free(z, "DELETE", api + "/responses/*");
      free(z, "GET", api + "/responses/*/input_items");
      free(z, "POST", api + "/responses/*/cancel");
      free(z, "GET", api + "/models");
      free(z, "GET", api + "/models/*");
      unmeterable(z, "POST", api + "/files", UnmeterableEndpoint.Files);
      free(z, "GET", api + "/files");
      free(z, "GET", api + "/files/*");
      free(z, "DELETE", api + "/files/*");
      free(z, "GET", api + "/files/*/content");
      unmeterable(z, "POST", api + "/batches", UnmeterableEndpoint.Batches);
      free(z, "GET", api + "/batches");
      free(z, "GET", api + "/batches/*");
      free(z, "POST", api + "/batches/*/cancel");
      unmeterable(z, "POST", api + "/fine_tuning/jobs", UnmeterableEndpoint.FineTuning);
      free(z, "GET", api + "/fine_tuning/jobs");
      free(z, "GET", api + "/fine_tuning/jobs/*");
      free(z, "POST", api + "/fine_tuning/jobs/*/cancel");
      for (String method : new String[] {"GET", "POST"}) {
        unmeterable(z, method, api + "/realtime", UnmeterableEndpoint.Realtime);
      }
    }
    metered(z, "/openai/v1/chat/completions", Endpoint.OPENAI_CHAT);
    metered(z, "/openai/v1/completions", Endpoint.OPENAI_COMPLETIONS);
    metered(z, "/openai/v1/embeddings", Endpoint.OPENAI_EMBEDDINGS);
    free(z, "GET", "/openai/deployments");
    free(z, "GET", deployment);
    for (String images : new String[] {"generations", "edits"}) {
      unmeterable(z, "POST", deployment + "/images/" + images, UnmeterableEndpoint.Images);
      unmeterable(z, "POST", "/openai/v1/images/" + images, UnmeterableEndpoint.Images);
    }
    // the AzureOpenAI SDKs send batch creation to the deployment's path
    unmeterable(z, "POST", deployment + "/batches", UnmeterableEndpoint.Batches);
    for (String audio : new String[] {"speech", "transcriptions", "translations"}) {
      unmeterable(z, "POST", deployment + "/audio/" + audio, UnmeterableEndpoint.Audio);
      unmeterable(z, "POST", "/openai/v1/audio/" + audio, UnmeterableEndpoint.Audio);
    }
  }

  private static void metered(UpstreamFormat format, Endpoint endpoint) {
    metered(format, endpoint.path(), endpoint);
  }

  private static void metered(UpstreamFormat format, String path, Endpoint endpoint) {
    ROWS.add(new Row(format, "POST", segments(path), new Metered(endpoint)));
  }

  private static void free(UpstreamFormat format, String method, String path) {
    ROWS.add(new Row(format, method, segments(path), FREE));
  }

  private static void unmeterable(UpstreamFormat format, String method, String path, UnmeterableEndpoint group) {
    ROWS.add(new Row(format, method, segments(path), new Unmeterable(group)));
  }

  private static String[] segments(String path) {
    return path.substring(1).split("/");
  }

  /**
   * Classifies a canonical upstream-relative path (no query string; see the proxy's canonical
   * path) called with {@code method}. HEAD is taken wherever GET is.
   */
  public static Classification classify(UpstreamFormat format, String method, String canonicalPath) {
    String m = method.toUpperCase(Locale.ROOT);
    boolean readOnly = m.equals("GET") || m.equals("HEAD");
    String[] parts = canonicalPath.length() <= 1 ? new String[0] : canonicalPath.substring(1).split("/", 64);
    Set<String> allowed = new TreeSet<>();
    for (Row row : ROWS) {
      if (row.format != format || !matches(row.segments, parts)) {
        continue;
      }
      if (row.method.equals(m) || m.equals("HEAD") && row.method.equals("GET")) {
        return row.kind;
      }
      allowed.add(row.method);
      if (row.method.equals("GET")) {
        allowed.add("HEAD");
      }
    }
    return allowed.isEmpty() ? new Unknown(readOnly) : new WrongMethod(allowed);
  }

  private static boolean matches(String[] pattern, String[] parts) {
    if (pattern.length != parts.length) {
      return false;
    }
    for (int i = 0; i < pattern.length; i++) {
      if (!pattern[i].equals("*") && !pattern[i].equals(parts[i])) {
        return false;
      }
    }
    return true;
  }

  /** The format whose metered endpoints include the bare path {@code canonicalPath}, if any ({@code /v1/messages} → anthropic). */
  public static java.util.Optional<UpstreamFormat> formatOfBarePath(String canonicalPath) {
    for (Endpoint endpoint : Endpoint.values()) {
      if (endpoint.path().equals(canonicalPath) && endpoint.bareRoute()) {
        return java.util.Optional.of(endpoint.format());
      }
    }
    return java.util.Optional.empty();
  }
}
