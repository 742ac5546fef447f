package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.CompiledUpstream;
import dev.ratekeeper.sidecar.wire.Endpoint;
import dev.ratekeeper.sidecar.wire.EndpointTable;
import java.util.Optional;

/**
 * Where a request goes: the upstream, the canonical path to call there (with the query string as
 * sent), and what the endpoint table says that path and method are.
 */
public record Route(CompiledUpstream upstream, String path, String upstreamPath,
    EndpointTable.Classification classification) {

  /** The metered endpoint, when the table says the call is metered. */
  public Optional<Endpoint> endpoint() {
    return classification instanceof EndpointTable.Metered m ? Optional.of(m.endpoint()) : Optional.empty();
  }

  /**
   * Resolves a canonical path: {@code /<upstream>/...} to that upstream, and the bare metered paths
   * ({@code /v1/messages}, {@code /v1/chat/completions}, ...) to the first upstream of their format.
   */
  public static Optional<Route> resolve(CompiledPolicy policy, String method, CanonicalPath.Canonical target) {
    String path = target.path();
    int second = path.indexOf('/', 1);
    String first = second > 0 ? path.substring(1, second) : path.substring(1);
    Optional<CompiledUpstream> named = first.isEmpty() ? Optional.empty() : policy.upstream(first);
    if (named.isPresent()) {
      String rest = second > 0 ? path.substring(second) : "/";
      return Optional.of(route(named.get(), method, rest, target));
    }
    return EndpointTable.formatOfBarePath(path)
        .flatMap(policy::firstUpstream)
        .map(upstream -> route(upstream, method, path, target));
  }

  private static Route route(CompiledUpstream upstream, String method, String rest, CanonicalPath.Canonical target) {
    return new Route(upstream, rest, target.withQuery(rest), EndpointTable.classify(upstream.format(), method, rest));
  }
}
