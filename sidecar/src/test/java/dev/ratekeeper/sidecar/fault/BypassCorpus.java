package dev.ratekeeper.sidecar.fault;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.util.ArrayList;
import java.util.List;

/**
 * Ways around the limits a hostile agent would try, each with the answer Ratekeeper's contract
 * gives (the policy is {@link BypassCorpusIT#POLICY}: a free tier allowed claude-haiku-4-5 and
 * gpt-4o-mini, maxPerRequest 2000, a budget). Spellings of metered paths are metered (so the
 * free user's opus call is a 403) or refused as not canonical (400); billed endpoints that cannot be
 * metered and unknown POSTs are refused (403); wrong methods are 405; oversized, deep, duplicated
 * and multiplied bodies get their 4xx; free endpoints and metered calls the tier allows are
 * forwarded, under their canonical path.
 */
public final class BypassCorpus {
  /** The sidecar under test runs with {@code --max-body 2MiB}. */
  static final int MAX_BODY = 2 * 1024 * 1024;

  /**
   * One request. {@code target}: the raw request target, sent byte for byte over a socket.
   * {@code forwardedAs}: the path the provider must see, or null when nothing may reach it.
   */
  record Case(String label, String method, String target, byte[] body, int status, String forwardedAs) {}

  static final String OPUS = "{\"model\":\"claude-opus-4-5\",\"max_tokens\":100000,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"write a novel\"}]}";
  static final String HAIKU = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":50,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  static final String MINI = "{\"model\":\"gpt-4o-mini\",\"max_completion_tokens\":50,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  private BypassCorpus() {}

  static List<Case> cases() {
    List<Case> out = new ArrayList<>();
    // spellings of /v1/messages: metered after canonicalisation (opus is not the free tier's: 403) ...
    for (String spelling : new String[] {"//v1/messages", "/v1//messages", "/v1/%6Dessages", "/v1/%6dessages",
        "/v1/./messages", "/v1/messages/", "/v1/x/../messages", "/anthropic//v1/messages", "/%61nthropic/v1/messages",
        "/anthropic/v1/%2e/messages", "/anthropic/./v1/messages", "///anthropic///v1///messages///"}) {
      out.add(new Case("spelling " + spelling, "POST", spelling, bytes(OPUS), 403, null));
    }
    // ... or refused because they cannot be made canonical
    for (String spelling : new String[] {"/v1%2Fmessages", "/v1%2fmessages", "/anthropic%2Fv1/messages",
        "/v1%5Cmessages", "/v1/messages;x=1", "/v1;/messages", "/v1/messages%00", "/v1/messages%0d%0a",
        "/x/../v1/messages", "/anthropic/../tenant-b/v1/messages", "/anthropic/v1/../../openai/v1/chat/completions",
        "/../v1/messages", "/v1/messages%", "/v1/messages%g0", "/anthropic/%2e%2e/openai/v1/chat/completions"}) {
      out.add(new Case("not canonical " + spelling, "POST", spelling, bytes(OPUS), 400, null));
    }
    // case is significant: not an endpoint, and not a GET, so refused
    out.add(new Case("upper case", "POST", "/anthropic/V1/Messages", bytes(OPUS), 403, null));
    out.add(new Case("upper case bare", "POST", "/V1/Messages", bytes(OPUS), 404, null));
    out.add(new Case("upper case upstream", "POST", "/Anthropic/v1/messages", bytes(OPUS), 404, null));

    // billed endpoints that cannot be metered: refused without allowUnmeterable
    String anything = "{\"model\":\"gpt-4o-mini\",\"input_file_id\":\"file-1\",\"endpoint\":\"/v1/chat/completions\"}";
    for (String path : new String[] {"/openai/v1/batches", "/openai/v1/files", "/openai/v1/uploads",
        "/openai/v1/uploads/upload_1/parts", "/openai/v1/images/generations", "/openai/v1/images/edits",
        "/openai/v1/audio/speech", "/openai/v1/audio/transcriptions", "/openai/v1/fine_tuning/jobs",
        "/openai/v1/realtime/sessions", "/anthropic/v1/files"}) {
      out.add(new Case("unmeterable " + path, "POST", path, bytes(anything), 403, null));
    }
    out.add(new Case("realtime upgrade", "GET", "/openai/v1/realtime?model=gpt-4o-realtime", null, 403, null));
    // unknown POSTs, including billed legacy endpoints
    for (String path : new String[] {"/anthropic/v1/complete", "/openai/v1/assistants", "/openai/v1/threads/runs",
        "/openai/v1/chat/completions/x/y", "/openai/v2/chat/completions", "/anthropic/v1/messages/batches/b/x/y",
        "/openai/v1/messages", "/anthropic/v1/chat/completions"}) {
      out.add(new Case("unknown POST " + path, "POST", path, bytes(HAIKU), 403, null));
    }
    out.add(new Case("unknown PUT", "PUT", "/openai/v1/organization/x", bytes(HAIKU), 403, null));
    // methods the endpoint does not take
    out.add(new Case("GET messages", "GET", "/anthropic/v1/messages", null, 405, null));
    out.add(new Case("PUT messages", "PUT", "/anthropic/v1/messages", bytes(OPUS), 405, null));
    out.add(new Case("PATCH chat", "PATCH", "/openai/v1/chat/completions", bytes(MINI), 405, null));
    out.add(new Case("DELETE embeddings", "DELETE", "/openai/v1/embeddings", null, 405, null));
    out.add(new Case("POST models", "POST", "/openai/v1/models", bytes(MINI), 405, null));
    out.add(new Case("PUT batches", "PUT", "/anthropic/v1/messages/batches", bytes(HAIKU), 405, null));

    // Anthropic message batches: every request checked against the tier
    out.add(new Case("batch of 100 opus", "POST", "/anthropic/v1/messages/batches", bytes(batch(100,
        "claude-opus-4-5", 64000)), 403, null));
    out.add(new Case("batch over maxPerRequest", "POST", "/anthropic/v1/messages/batches", bytes(batch(3,
        "claude-haiku-4-5", 64000)), 400, null));
    out.add(new Case("batch, one request bad", "POST", "/anthropic/v1/messages/batches",
        bytes("{\"requests\":[{\"custom_id\":\"a\",\"params\":" + HAIKU + "},{\"custom_id\":\"b\",\"params\":{}}]}"),
        400, null));
    out.add(new Case("batch the tier allows", "POST", "/anthropic//v1/messages/batches", bytes(batch(3,
        "claude-haiku-4-5", 100)), 200, "/v1/messages/batches"));

    // bodies
    out.add(new Case("duplicate model key", "POST", "/anthropic/v1/messages", bytes(
        "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":10,\"model\":\"claude-opus-4-5\",\"messages\":[]}"), 400, null));
    out.add(new Case("duplicate cap key", "POST", "/openai/v1/chat/completions", bytes(
        "{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"max_tokens\":100000,\"messages\":[]}"), 400, null));
    out.add(new Case("n multiplies past maxPerRequest", "POST", "/openai/v1/chat/completions", bytes(
        "{\"model\":\"gpt-4o-mini\",\"max_completion_tokens\":1000,\"n\":4,\"messages\":[]}"), 400, null));
    out.add(new Case("best_of multiplies past maxPerRequest", "POST", "/openai/v1/completions", bytes(
        "{\"model\":\"gpt-4o-mini\",\"max_tokens\":500,\"best_of\":5,\"prompt\":\"hi\"}"), 400, null));
    out.add(new Case("n out of range", "POST", "/openai/v1/chat/completions", bytes(
        "{\"model\":\"gpt-4o-mini\",\"n\":100000,\"messages\":[]}"), 400, null));
    out.add(new Case("990-deep content", "POST", "/anthropic/v1/messages", bytes(
        "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":"
            + "[".repeat(990) + "]".repeat(990) + "}]}"), 400, null));
    out.add(new Case("body over --max-body", "POST", "/anthropic/v1/messages", bytes(
        "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\""
            + "x".repeat(MAX_BODY) + "\"}]}"), 413, null));
    out.add(new Case("1 MiB single-word OpenAI message", "POST", "/openai/v1/chat/completions", bytes(
        "{\"model\":\"gpt-4o-mini\",\"max_completion_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\""
            + "y".repeat(1 << 20) + "\"}]}"), 200, "/v1/chat/completions"));
    out.add(new Case("1.9 MiB Anthropic message", "POST", "/anthropic/v1/messages", bytes(
        "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\""
            + "word ".repeat(380_000) + "\"}]}"), 200, "/v1/messages"));

    // dated aliases hit the undated model's allow-list, quota and price
    out.add(new Case("dated alias", "POST", "/anthropic/v1/messages", bytes(HAIKU.replace("claude-haiku-4-5",
        "claude-haiku-4-5-20251001")), 200, "/v1/messages"));
    out.add(new Case("dated alias of a model the tier may not use", "POST", "/anthropic/v1/messages",
        bytes(OPUS.replace("claude-opus-4-5", "claude-opus-4-5-20251101")), 403, null));

    // Azure OpenAI: the deployment, not the body, decides the model ("big" serves claude-opus-4-5, which the
    // free tier may not use); spellings reach the same deployment; unmapped deployments are never forwarded
    String azureChat = "/azure/openai/deployments/%s/chat/completions?api-version=2024-10-21";
    out.add(new Case("azure body names an allowed model", "POST", azureChat.formatted("big"), bytes(MINI), 403, null));
    out.add(new Case("azure v1 body names the deployment", "POST", "/azure/openai/v1/chat/completions",
        bytes(MINI.replace("gpt-4o-mini", "big")), 403, null));
    out.add(new Case("azure spelled deployment", "POST", "/azure/openai/deployments/b%69g/chat//completions",
        bytes(MINI), 403, null));
    out.add(new Case("azure unmapped deployment", "POST", azureChat.formatted("gpt-4o-mini"), bytes(MINI), 404, null));
    out.add(new Case("azure encoded slash", "POST", azureChat.formatted("mini%2F..%2Fbig"), bytes(MINI), 400, null));
    out.add(new Case("azure climbing dots", "POST", "/azure/../openai/deployments/big/chat/completions", bytes(MINI),
        400, null));
    out.add(new Case("azure on-your-data extension", "POST", "/azure/openai/deployments/mini/extensions/chat/completions",
        bytes(MINI), 403, null));
    out.add(new Case("azure images", "POST", "/azure/openai/deployments/mini/images/generations", bytes(MINI), 403,
        null));
    out.add(new Case("azure OpenAI path", "POST", "/azure/v1/chat/completions", bytes(MINI), 403, null));
    out.add(new Case("azure spelled allowed call", "POST",
        "/azure/openai/./deployments/%6Dini/chat//completions?api-version=2024-10-21", bytes(MINI), 200,
        "/openai/deployments/mini/chat/completions"));

    // free endpoints (unmeteredPaths: RequestsOnly) and metered calls are forwarded under their canonical path
    out.add(new Case("models list", "GET", "/openai//v1/models", null, 200, "/v1/models"));
    out.add(new Case("count tokens", "POST", "/anthropic/v1/messages/count_tokens", bytes(HAIKU), 200,
        "/v1/messages/count_tokens"));
    out.add(new Case("spelled haiku call", "POST", "//anthropic//v1/./%6Dessages/", bytes(HAIKU), 200,
        "/v1/messages"));
    out.add(new Case("spelled chat call with a query", "POST", "/openai/v1/chat//completions?x=1", bytes(MINI), 200,
        "/v1/chat/completions"));
    return out;
  }

  public static String batch(int requests, String model, int maxTokens) {
    StringBuilder out = new StringBuilder("{\"requests\":[");
    for (int i = 0; i < requests; i++) {
      out.append(i > 0 ? "," : "").append("{\"custom_id\":\"r").append(i).append("\",\"params\":{\"model\":\"")
          .append(model).append("\",\"max_tokens\":").append(maxTokens)
          .append(",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}");
    }
    return out.append("]}").toString();
  }

  private static byte[] bytes(String s) {
    return s.getBytes(UTF_8);
  }
}
