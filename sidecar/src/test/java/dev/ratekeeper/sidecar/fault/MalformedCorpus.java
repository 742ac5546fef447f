package dev.ratekeeper.sidecar.fault;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.ratekeeper.policy.api.UpstreamFormat;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Requests Ratekeeper's contract says it refuses without forwarding, generated from three valid
 * bodies (Anthropic messages, OpenAI chat completions, OpenAI responses): the body cut at every
 * byte, every field the sidecar reads given wrong types and out-of-range values, JSON that is not
 * an object, raw control characters and invalid UTF-8, trailing bytes after the object, bodies over
 * {@code --max-body} (declared and chunked), form and multipart content types, and paths no
 * upstream serves or that {@code unmeteredPaths: Deny} refuses.
 *
 * <p>What the contract does not refuse is not here: a body the provider would reject but that is a
 * JSON object with a non-empty string {@code model} and sane caps (no {@code messages}, unknown
 * fields, an escaped control character in the model name) is forwarded; see
 * {@link #forwardedByContract()}.
 */
final class MalformedCorpus {
  /** The sidecar under test runs with {@code --max-body 64KiB}. */
  static final int MAX_BODY = 64 * 1024;

  /** One request and the refusal it must get. {@code chunked}: sent without content-length. */
  record Case(String label, String method, String path, String contentType, byte[] body, boolean chunked, int status,
      UpstreamFormat shape) {}

  /** A valid call to one metered endpoint, as ordered JSON members (name → raw JSON value). */
  record Endpoint(String path, UpstreamFormat format, Map<String, String> members, List<String> capFields) {
    String json() {
      return json(members);
    }

    String with(String field, String rawValue) {
      Map<String, String> copy = new LinkedHashMap<>(members);
      if (rawValue == null) {
        copy.remove(field);
      } else {
        copy.put(field, rawValue);
      }
      return json(copy);
    }

    static String json(Map<String, String> members) {
      StringBuilder out = new StringBuilder("{");
      members.forEach((k, v) -> out.append(out.length() > 1 ? "," : "").append('"').append(k).append("\":").append(v));
      return out.append('}').toString();
    }
  }

  static final List<Endpoint> ENDPOINTS = List.of(
      new Endpoint("/anthropic/v1/messages", UpstreamFormat.ANTHROPIC, ordered(
          "model", "\"claude-sonnet-4-6\"", "max_tokens", "64", "stream", "false",
          "messages", "[{\"role\":\"user\",\"content\":\"Héllo ✓ \\\"quoted\\\" \\\\ \\u00e9 ok\"}]",
          "metadata", "{\"user_id\":\"u-1\"}"), List.of("max_tokens")),
      new Endpoint("/openai/v1/chat/completions", UpstreamFormat.OPENAI, ordered(
          "model", "\"gpt-4o\"", "max_completion_tokens", "64", "stream", "false",
          "messages", "[{\"role\":\"user\",\"content\":\"hi there\"}]", "temperature", "0.2"),
          List.of("max_completion_tokens", "max_tokens")),
      new Endpoint("/openai/v1/responses", UpstreamFormat.OPENAI, ordered(
          "model", "\"gpt-4o\"", "max_output_tokens", "64", "stream", "false",
          "input", "[{\"role\":\"user\",\"content\":\"hi\"}]"), List.of("max_output_tokens")));

  private static final String[] BAD_MODELS = {null, "null", "\"\"", "\"   \"", "\"\\t\\n\"", "0", "12.5", "true", "false",
      "[]", "[\"gpt-4o\"]", "{}", "{\"name\":\"gpt-4o\"}"};
  private static final String[] BAD_CAPS = {"0", "-1", "-9223372036854775808", "1.5", "64.0", "1e3", "-0.0",
      "99999999999999999999", "1e400", "\"64\"", "true", "[]", "{}", "[64]",
      // integers whose reservation overflows a long at the corpus policy's prices (a hang before the fix)
      "1000000000000", "4611686018427387904", "9223372036854775807"};
  private static final String[] BAD_STREAMS = {"\"true\"", "\"false\"", "1", "0", "\"yes\"", "[]", "{}", "1.0", "[true]"};
  private static final String[] NOT_OBJECTS = {"[]", "[{}]", "\"text\"", "\"\"", "123", "-1", "1.5", "true", "false",
      "null", "[{\"model\":\"gpt-4o\"}]"};
  private static final String[] BLANK = {"", " ", "\n\t\r "};
  private static final byte[][] BAD_BYTES = {{0x00}, {0x01}, {0x08}, {0x0b}, {0x1f}, {(byte) 0xff}, {(byte) 0xc3, 0x28},
      {(byte) 0xe2, 0x28, (byte) 0xa1}, {(byte) 0xf0, 0x28, (byte) 0x8c, 0x28}, {(byte) 0x80}, {(byte) 0xe2, (byte) 0x82},
      {(byte) 0xed, (byte) 0xa0, (byte) 0x80}, {(byte) 0xf8, (byte) 0x88, (byte) 0x80, (byte) 0x80, (byte) 0x80}};
  // not here: overlong forms (c0 80, e0 80 80) and code points over U+10FFFF (f4 90 80 80), which Jackson decodes
  // leniently; such a body is forwarded and the provider refuses it (docs/reliability.md, known limits)
  private static final String[] TRAILING = {"x", "}", "{}", " [1]", ",", "\"", " {\"model\":\"gpt-4o\"}", " 1", " null"};
  private static final String[] WRONG_CONTENT_TYPES = {"text/plain", "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=xyz", "application/octet-stream"};

  private MalformedCorpus() {}

  private static Map<String, String> ordered(String... kv) {
    Map<String, String> out = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      out.put(kv[i], kv[i + 1]);
    }
    return out;
  }

  /** Every case; at least 500. */
  static List<Case> cases() {
    List<Case> out = new ArrayList<>();
    for (Endpoint e : ENDPOINTS) {
      byte[] valid = e.json().getBytes(UTF_8);
      // truncated at every byte, including inside multi-byte characters and escapes; cut 0 is the empty body
      for (int cut = 0; cut < valid.length; cut++) {
        byte[] prefix = java.util.Arrays.copyOf(valid, cut);
        out.add(bad("truncated at " + cut, e, prefix));
      }
      for (String model : BAD_MODELS) {
        out.add(bad("model " + model, e, e.with("model", model)));
      }
      for (String field : e.capFields()) {
        for (String cap : BAD_CAPS) {
          out.add(bad(field + " " + cap, e, e.with(field, cap)));
        }
      }
      for (String stream : BAD_STREAMS) {
        out.add(bad("stream " + stream, e, e.with("stream", stream)));
      }
      for (String root : NOT_OBJECTS) {
        out.add(bad("not an object: " + root, e, root));
      }
      for (String blank : BLANK) {
        out.add(bad("blank body " + blank.length(), e, blank));
      }
      for (byte[] bytes : BAD_BYTES) {
        String hex = hex(bytes);
        out.add(bad("raw " + hex + " in the model", e, splice(e.with("model", "\"gpt-4o@\""), "@", bytes)));
        out.add(bad("raw " + hex + " in a message", e, splice(e.json(), "\"role\":\"us", bytes)));
      }
      for (String tail : TRAILING) {
        out.add(bad("trailing " + tail, e, e.json() + tail));
      }
      out.add(bad("two objects", e, e.json() + e.json()));
      for (String type : WRONG_CONTENT_TYPES) {
        out.add(new Case(type + " form body", "POST", e.path(), type,
            "model=gpt-4o&max_tokens=5".getBytes(UTF_8), false, 400, e.format()));
        out.add(new Case(type + " truncated JSON", "POST", e.path(), type,
            java.util.Arrays.copyOf(valid, valid.length / 2), false, 400, e.format()));
      }
      out.add(new Case("no content-type, not JSON", "POST", e.path(), null, "hello".getBytes(UTF_8), false, 400,
          e.format()));
      // over --max-body: valid JSON padded with an unknown member, declared length and chunked
      for (int size : new int[] {MAX_BODY + 1, MAX_BODY * 3}) {
        byte[] big = padded(e, size);
        out.add(new Case("body of " + size + " bytes", "POST", e.path(), "application/json", big, false, 413, e.format()));
        out.add(new Case("chunked body of " + size + " bytes", "POST", e.path(), "application/json", big, true, 413,
            e.format()));
      }
      // the same endpoint under a bare path and with a query string: same refusals
      out.add(new Case("bare path, truncated", "POST", e.path().substring(e.path().indexOf("/v1")), "application/json",
          java.util.Arrays.copyOf(valid, 10), false, 400, e.format()));
      out.add(new Case("query string, model missing", "POST", e.path() + "?beta=true", "application/json",
          e.with("model", null).getBytes(UTF_8), false, 400, e.format()));
    }
    // paths: no upstream (404, shape guessed from the path); not canonical (400); a method the endpoint does not
    // take (405); not in the endpoint table, billed but not meterable, or free under unmeteredPaths: Deny (403)
    String body = ENDPOINTS.get(0).json();
    String noModel = ENDPOINTS.get(0).with("model", null);
    out.add(path("POST", "/nope/v1/messages", body, 404, UpstreamFormat.ANTHROPIC));
    out.add(path("POST", "/nope/v1/chat/completions", body, 404, UpstreamFormat.OPENAI));
    out.add(path("POST", "/", body, 404, UpstreamFormat.OPENAI));
    out.add(path("POST", "/v2/messages", body, 404, UpstreamFormat.ANTHROPIC));
    out.add(path("POST", "/anthropicx/v1/messages", body, 404, UpstreamFormat.ANTHROPIC));
    out.add(path("GET", "/v1/models", null, 404, UpstreamFormat.OPENAI));
    // canonical spellings of metered endpoints are metered: a body without a model is the usual 400
    out.add(path("POST", "/%61nthropic/v1/messages", noModel, 400, UpstreamFormat.ANTHROPIC));
    out.add(path("POST", "/openai/v1//chat/completions", noModel, 400, UpstreamFormat.OPENAI));
    out.add(path("POST", "/openai/../anthropic/v1/messages", body, 400, UpstreamFormat.ANTHROPIC));
    out.add(path("POST", "/anthropic/v1/messagez", body, 403, UpstreamFormat.ANTHROPIC));
    out.add(path("POST", "/anthropic/v1/messages/count_tokens", body, 403, UpstreamFormat.ANTHROPIC));
    out.add(path("POST", "/anthropic/v1/messages/batches", body, 400, UpstreamFormat.ANTHROPIC));
    out.add(path("GET", "/anthropic/v1/messages", null, 405, UpstreamFormat.ANTHROPIC));
    out.add(path("PUT", "/anthropic/v1/messages", body, 405, UpstreamFormat.ANTHROPIC));
    out.add(path("DELETE", "/openai/v1/chat/completions", null, 405, UpstreamFormat.OPENAI));
    out.add(path("POST", "/openai/v1/chat/completion", body, 403, UpstreamFormat.OPENAI));
    out.add(path("POST", "/openai/v1/responses/resp_1/cancel", body, 403, UpstreamFormat.OPENAI));
    out.add(path("POST", "/openai/v1/files", body, 403, UpstreamFormat.OPENAI));
    out.add(path("GET", "/openai/v1/models", null, 403, UpstreamFormat.OPENAI));
    return out;
  }

  /**
   * Bodies the contract does not refuse though a provider might (Ratekeeper forwards them): path,
   * content type, body.
   */
  static List<String[]> forwardedByContract() {
    return List.of(
        new String[] {"/anthropic/v1/messages", "application/json", "{\"model\":\"claude-sonnet-4-6\",\"max_tokens\":5}"},
        new String[] {"/anthropic/v1/messages", "text/plain", ENDPOINTS.get(0).json()},
        new String[] {"/anthropic/v1/messages", "application/json",
            "{\"model\":\"\\u0001claude\",\"max_tokens\":5,\"messages\":[]}"},
        new String[] {"/openai/v1/chat/completions", "application/json",
            "{\"model\":\"gpt-4o\",\"max_tokens\":null,\"messages\":42,\"x-unknown\":{}}"},
        new String[] {"/openai/v1/responses", "application/json", "\ufeff" + ENDPOINTS.get(2).json()},
        new String[] {"/openai/v1/responses", "application/json", " \n" + ENDPOINTS.get(2).json() + "\n "});
  }

  private static Case bad(String label, Endpoint e, String body) {
    return bad(label, e, body.getBytes(UTF_8));
  }

  private static Case bad(String label, Endpoint e, byte[] body) {
    return new Case(e.path() + " " + label, "POST", e.path(), "application/json", body, false, 400, e.format());
  }

  private static Case path(String method, String path, String body, int status, UpstreamFormat shape) {
    return new Case(method + " " + path, method, path, "application/json", body == null ? null : body.getBytes(UTF_8),
        false, status, shape);
  }

  private static byte[] splice(String json, String marker, byte[] raw) {
    byte[] bytes = json.getBytes(UTF_8);
    byte[] at = marker.getBytes(UTF_8);
    int i = indexOf(bytes, at);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(bytes, 0, i + at.length);
    out.writeBytes(raw);
    out.write(bytes, i + at.length, bytes.length - i - at.length);
    return out.toByteArray();
  }

  private static int indexOf(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    throw new IllegalArgumentException("marker not found");
  }

  /** The valid body with an unknown string member added so that it is exactly {@code size} bytes. */
  private static byte[] padded(Endpoint e, int size) {
    String json = e.json();
    String start = json.substring(0, json.length() - 1) + ",\"pad\":\"";
    String end = "\"}";
    int fill = size - start.getBytes(UTF_8).length - end.length();
    return (start + "a".repeat(fill) + end).getBytes(UTF_8);
  }

  private static String hex(byte[] bytes) {
    StringBuilder out = new StringBuilder();
    for (byte b : bytes) {
      out.append(String.format("%02x", b & 0xff));
    }
    return out.toString();
  }
}
