package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.policy.compile.CompiledIdentity;
import dev.ratekeeper.sidecar.upstream.ProviderCredentials;
import io.vertx.core.MultiMap;
import java.util.Locale;
import java.util.Set;

/** Which headers cross the proxy, each way. */
final class Headers {
  /** RFC 9110 §7.6.1 connection-specific headers, never forwarded. */
  static final Set<String> HOP_BY_HOP = Set.of("connection", "keep-alive", "proxy-authenticate",
      "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade");

  private Headers() {}

  /**
   * The headers to send upstream: the client's, less hop-by-hop ones, {@code Host}, the length
   * (recomputed), {@code Expect} (the sidecar
   * answers it), every {@code X-Ratekeeper-*} header and the policy's identity headers. With a
   * provider key configured, the client's credentials are replaced by it. Metered calls ask for an
   * uncompressed response, so usage can be read as it streams.
   */
  static MultiMap upstreamRequest(MultiMap in, CompiledIdentity identity, UpstreamFormat format, String providerKey,
      boolean metered) {
    MultiMap out = MultiMap.caseInsensitiveMultiMap();
    Set<String> listedInConnection = connectionListed(in);
    IdentityNames identityNames = IdentityNames.of(identity);
    for (var entry : in) {
      String name = entry.getKey().toLowerCase(Locale.ROOT);
      if (HOP_BY_HOP.contains(name) || listedInConnection.contains(name) || name.equals("host")
          || name.equals("content-length") || name.equals("expect") || name.startsWith("x-ratekeeper-")
          || identityNames.matches(name)) {
        continue;
      }
      if (providerKey != null && ProviderCredentials.isCredential(name)) {
        continue;
      }
      if (metered && name.equals("accept-encoding")) {
        continue;
      }
      out.add(entry.getKey(), entry.getValue());
    }
    if (providerKey != null) {
      ProviderCredentials.set(out, format, providerKey);
    }
    return out;
  }

  /** The provider's response headers, untouched but for hop-by-hop ones (and the length when the body changes). */
  static void copyResponse(MultiMap from, MultiMap to, boolean bodyMayChange) {
    Set<String> listedInConnection = connectionListed(from);
    for (var entry : from) {
      String name = entry.getKey().toLowerCase(Locale.ROOT);
      if (HOP_BY_HOP.contains(name) || listedInConnection.contains(name)
          || (bodyMayChange && name.equals("content-length"))) {
        continue;
      }
      to.add(entry.getKey(), entry.getValue());
    }
  }

  /**
   * The policy's identity header names in lower case, made once per policy revision (its identity is
   * one object while the revision is in force): the last one made is kept, and a request of another
   * revision makes its own.
   */
  private record IdentityNames(CompiledIdentity identity, String user, String tier, String key, String run) {
    private static volatile IdentityNames last;

    static IdentityNames of(CompiledIdentity identity) {
      IdentityNames found = last;
      if (found != null && found.identity == identity) {
        return found;
      }
      IdentityNames made = new IdentityNames(identity, identity.userHeader().toLowerCase(Locale.ROOT),
          identity.tierHeader().toLowerCase(Locale.ROOT), identity.apiKeyHeader().toLowerCase(Locale.ROOT),
          identity.runHeader().toLowerCase(Locale.ROOT));
      last = made;
      return made;
    }

    /** Whether {@code name} (lower case) is one of them. */
    boolean matches(String name) {
      return name.equals(user) || name.equals(tier) || name.equals(key) || name.equals(run);
    }
  }

  private static Set<String> connectionListed(MultiMap headers) {
    String connection = headers.get("connection");
    if (connection == null) {
      return Set.of();
    }
    java.util.HashSet<String> names = new java.util.HashSet<>();
    for (String token : connection.split(",")) {
      names.add(token.trim().toLowerCase(Locale.ROOT));
    }
    return names;
  }
}
