package dev.ratekeeper.sidecar.proxy;

import java.util.ArrayList;
import java.util.List;

/**
 * The one spelling of a request path that the sidecar classifies and forwards, so no spelling can
 * be classified as one endpoint and served by the provider (or an edge in front of it) as another.
 *
 * <p>From the raw request target: percent-escapes of unreserved characters ({@code A-Z a-z 0-9 - . _ ~})
 * are decoded and other escapes kept (upper-cased); empty segments (duplicate or trailing slashes)
 * are dropped; {@code .} segments are removed and {@code ..} segments remove the one before. The
 * query string is kept as sent. Refused (400), because they cannot be made canonical safely: a
 * target that is not a path, an encoded slash or backslash, an encoded or raw control character
 * (NUL included), a raw backslash, non-ASCII bytes, path parameters ({@code ;}), a fragment, a
 * malformed escape, a {@code ..} that would climb out of the first segment (the upstream, or the
 * API version of a bare path), and paths over {@value #MAX_LENGTH} characters or
 * {@value #MAX_SEGMENTS} segments. Work is linear in the target's length.
 */
public final class CanonicalPath {
  static final int MAX_LENGTH = 2048;
  static final int MAX_SEGMENTS = 32;

  private CanonicalPath() {}

  public sealed interface Result permits Canonical, Refused {}

  /** {@code path}: canonical, starts with {@code /}; {@code query}: as sent, without {@code ?}, or null. */
  public record Canonical(String path, String query) implements Result {
    /** The path with its query string, as forwarded. */
    public String withQuery(String path) {
      return query == null ? path : path + "?" + query;
    }
  }

  public record Refused(String reason) implements Result {}

  public static Result of(String target) {
    if (target == null || target.isEmpty() || target.charAt(0) != '/') {
      return new Refused("the request target must be a path starting with /");
    }
    int q = target.indexOf('?');
    String raw = q >= 0 ? target.substring(0, q) : target;
    String query = q >= 0 ? target.substring(q + 1) : null;
    if (raw.length() > MAX_LENGTH) {
      return new Refused("path longer than " + MAX_LENGTH + " characters");
    }
    StringBuilder decoded = new StringBuilder(raw.length());
    for (int i = 0; i < raw.length(); i++) {
      char c = raw.charAt(i);
      if (c == '%') {
        if (i + 2 >= raw.length() || hex(raw.charAt(i + 1)) < 0 || hex(raw.charAt(i + 2)) < 0) {
          return new Refused("malformed percent-escape in the path");
        }
        int b = hex(raw.charAt(i + 1)) * 16 + hex(raw.charAt(i + 2));
        i += 2;
        if (b == '/' || b == '\\') {
          return new Refused("encoded slash or backslash in the path");
        }
        if (b < 0x20 || b == 0x7f) {
          return new Refused("encoded control character in the path");
        }
        if (unreserved(b)) {
          decoded.append((char) b);
        } else {
          decoded.append('%').append(Character.toUpperCase(raw.charAt(i - 1))).append(Character.toUpperCase(raw.charAt(i)));
        }
      } else if (c < 0x20 || c >= 0x7f) {
        return new Refused("control or non-ASCII character in the path");
      } else if (c == '\\') {
        return new Refused("backslash in the path");
      } else if (c == ';') {
        return new Refused("path parameters (;) are not accepted");
      } else if (c == '#') {
        return new Refused("fragment in the request target");
      } else {
        decoded.append(c);
      }
    }
    List<String> segments = new ArrayList<>();
    int start = 0;
    String path = decoded.toString();
    while (start <= path.length()) {
      int slash = path.indexOf('/', start);
      int end = slash < 0 ? path.length() : slash;
      String segment = path.substring(start, end);
      start = end + 1;
      if (segment.isEmpty() || segment.equals(".")) {
        continue;
      }
      if (segment.equals("..")) {
        if (segments.size() <= 1) {
          return new Refused("dot segments climb out of the upstream");
        }
        segments.remove(segments.size() - 1);
        continue;
      }
      if (segments.size() >= MAX_SEGMENTS) {
        return new Refused("more than " + MAX_SEGMENTS + " path segments");
      }
      segments.add(segment);
    }
    return new Canonical("/" + String.join("/", segments), query);
  }

  private static boolean unreserved(int b) {
    return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_'
        || b == '~';
  }

  private static int hex(char c) {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  }
}
