package dev.ratekeeper.policy.validation;

import dev.ratekeeper.policy.api.Identity;
import dev.ratekeeper.policy.api.Names;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/** Rules of {@code spec.identity}: header names and the API-key Secret. */
final class IdentityValidator {
  static final int MAX_HEADER_LENGTH = 128;
  static final int MAX_SECRET_NAME_LENGTH = 253;

  /**
   * Headers an identity header must not be: HTTP framing, and the headers that carry provider keys
   * (their value would become a user id, stored and shown in status).
   */
  static final Set<String> RESERVED_HEADERS = Set.of(
      "host", "connection", "keep-alive", "content-length", "content-type", "transfer-encoding", "te", "trailer",
      "upgrade", "proxy-authorization", "authorization", "x-api-key", "api-key", "cookie");

  private static final Pattern HEADER = Pattern.compile(Names.HEADER_PATTERN);
  private static final Pattern SECRET_NAME = Pattern.compile(Names.SECRET_NAME_PATTERN);
  private static final String HEADER_RULE = "a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~)";
  static final String SECRET_NAME_RULE =
      "a valid Secret name (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)";

  private IdentityValidator() {}

  static void validate(Identity identity, Violations v) {
    if (identity == null) {
      return;
    }
    String base = "spec.identity";
    boolean userOk = header(base + ".userHeader", identity.userHeader, v);
    boolean tierOk = header(base + ".tierHeader", identity.tierHeader, v);
    boolean apiKeyOk = header(base + ".apiKeyHeader", identity.apiKeyHeader, v);
    boolean runOk = header(base + ".runHeader", identity.runHeader, v);
    if (identity.apiKeySecretRef != null) {
      secretName(base + ".apiKeySecretRef.name", identity.apiKeySecretRef.name, v);
    }
    if (Boolean.TRUE.equals(identity.requireApiKey) && identity.apiKeySecretRef == null) {
      v.add(base + ".requireApiKey", "needs spec.identity.apiKeySecretRef: the Secret the end users' keys come from");
    }

    // Headers that are in use must be told apart; a defaulted header is compared by its default.
    List<Header> active = new ArrayList<>();
    if (userOk || identity.userHeader == null) {
      active.add(new Header(base + ".userHeader", identity.userHeader, Identity.DEFAULT_USER_HEADER));
    }
    if (Boolean.TRUE.equals(identity.trustTierHeader) && (tierOk || identity.tierHeader == null)) {
      active.add(new Header(base + ".tierHeader", identity.tierHeader, Identity.DEFAULT_TIER_HEADER));
    }
    if (identity.apiKeySecretRef != null && (apiKeyOk || identity.apiKeyHeader == null)) {
      active.add(new Header(base + ".apiKeyHeader", identity.apiKeyHeader, Identity.DEFAULT_API_KEY_HEADER));
    }
    if (runOk || identity.runHeader == null) {
      active.add(new Header(base + ".runHeader", identity.runHeader, Identity.DEFAULT_RUN_HEADER));
    }
    for (int i = 0; i < active.size(); i++) {
      for (int j = 0; j < i; j++) {
        Header earlier = active.get(j);
        Header later = active.get(i);
        if (later.effective().equalsIgnoreCase(earlier.effective())) {
          Header reported = later.explicit() ? later : earlier;
          Header other = reported == later ? earlier : later;
          v.add(reported.path(), Violations.quote(reported.effective()) + " is also " + other.path()
              + (other.explicit() ? "" : " (its default)") + "; each identity header must be a different header");
        }
      }
    }
  }

  private static boolean header(String path, String name, Violations v) {
    if (!v.nonEmpty(path, name) || !v.maxLength(path, name, MAX_HEADER_LENGTH)
        || !v.matches(path, name, HEADER, HEADER_RULE)) {
      return false;
    }
    if (RESERVED_HEADERS.contains(name.toLowerCase(Locale.ROOT))) {
      v.add(path, Violations.quote(name)
          + " is reserved (HTTP framing or provider credentials); use a header of your own, e.g. X-Ratekeeper-User");
      return false;
    }
    return true;
  }

  static void secretName(String path, String name, Violations v) {
    if (v.requiredText(path, name) && v.maxLength(path, name, MAX_SECRET_NAME_LENGTH)) {
      v.matches(path, name, SECRET_NAME, SECRET_NAME_RULE);
    }
  }

  private record Header(String path, String value, String fallback) {
    boolean explicit() {
      return value != null;
    }

    String effective() {
      return value == null ? fallback : value;
    }
  }
}
