package dev.ratekeeper.operator.query;

import dev.ratekeeper.cli.Command;
import dev.ratekeeper.cli.ConfigException;
import dev.ratekeeper.cli.HostPort;
import dev.ratekeeper.cli.Inputs;
import dev.ratekeeper.cli.Setting;
import java.net.InetSocketAddress;
import java.util.Map;

/**
 * Whether and where the operator serves the query API behind {@code kubectl ratekeeper}
 * ({@value #LISTEN_ENV}, {@code host:port}; unset: not served), read with the rules every program
 * follows ({@link Inputs}). The chart sets it with {@code query.enabled}.
 *
 * @param listen the HTTPS address, or null when the query API is off
 */
public record QueryConfig(InetSocketAddress listen) {
  public static final String LISTEN_ENV = "RATEKEEPER_QUERY_LISTEN";
  static final Setting LISTEN = Setting.variable(LISTEN_ENV,
      "HTTPS address of the query API behind kubectl ratekeeper (e.g. 0.0.0.0:9444); unset: not served");
  static final Command COMMAND = Command.named("ratekeeper-operator query API", "ratekeeper-operator").add(LISTEN);

  /** The query API's part of the operator's {@code --help}. */
  public static final String ENV_HELP = "Query API behind kubectl ratekeeper (environment variables):\n"
      + COMMAND.variablesHelp();

  public static QueryConfig disabled() {
    return new QueryConfig(null);
  }

  public boolean enabled() {
    return listen != null;
  }

  /** Reads {@value #LISTEN_ENV}; a malformed value is a {@link ConfigException} naming it. */
  public static QueryConfig fromEnv(Map<String, String> env) throws ConfigException {
    Inputs in = Inputs.fromEnv(env);
    if (!in.isSet(LISTEN)) {
      in.check();
      return disabled();
    }
    HostPort listen = in.hostPort(LISTEN, null);
    in.check();
    return new QueryConfig(listen.toSocketAddress());
  }
}
