package dev.ratekeeper.operator.query;

import java.net.InetSocketAddress;
import java.util.Map;

/**
 * Whether and where the operator serves the query API ({@value #LISTEN_ENV}, {@code host:port};
 * unset or empty: not served). The chart sets it with {@code query.enabled}.
 *
 * @param listen the HTTPS address, or null when the query API is off
 */
public record QueryConfig(InetSocketAddress listen) {
  public static final String LISTEN_ENV = "RATEKEEPER_QUERY_LISTEN";
  public static final String ENV_HELP = "  " + LISTEN_ENV
      + "  host:port to serve the query API behind kubectl ratekeeper on (HTTPS); unset: off\n";

  public static QueryConfig disabled() {
    return new QueryConfig(null);
  }

  public boolean enabled() {
    return listen != null;
  }

  /** Reads {@value #LISTEN_ENV}; a malformed value is an {@link IllegalArgumentException} naming it. */
  public static QueryConfig fromEnv(Map<String, String> env) {
    String value = env.get(LISTEN_ENV);
    if (value == null || value.isBlank()) {
      return disabled();
    }
    String text = value.strip();
    int colon = text.lastIndexOf(':');
    int port;
    try {
      port = colon < 0 ? -1 : Integer.parseInt(text.substring(colon + 1));
    } catch (NumberFormatException e) {
      port = -1;
    }
    if (colon < 1 || port < 0 || port > 65535) {
      throw new IllegalArgumentException(LISTEN_ENV + " must be host:port (e.g. 0.0.0.0:9444), not \"" + text + "\"");
    }
    String host = text.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    return new QueryConfig(new InetSocketAddress(host, port));
  }
}
