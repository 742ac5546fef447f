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
    for (var entry : in) {
      String name = entry.getKey().toLowerCase(Locale.ROOT);
      if (HOP_BY_HOP.contains(name) || listedInConnection.contains(name) || name.equals("host")
          || name.equals("content-length") || name.equals("expect") || name.startsWith("x-ratekeeper-")
          || isIdentityHeader(identity, name)) {
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
   * Whether {@code name} is one of the policy's identity headers (user, tier, API key, run), in any
   * case, compared without making lower-case copies.
   */
  private static boolean isIdentityHeader(CompiledIdentity identity, String name) {
    return name.equalsIgnoreCase(identity.userHeader()) || name.equalsIgnoreCase(identity.tierHeader())
        || name.equalsIgnoreCase(identity.apiKeyHeader()) || name.equalsIgnoreCase(identity.runHeader());
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
