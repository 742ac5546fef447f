package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.compile.CompiledUpstream;
import dev.ratekeeper.sidecar.wire.Endpoint;
import java.util.Optional;

/**
 * Where a request goes: the upstream, the path to call there (with its query string), and the
 * metered endpoint it is, if it is one.
 */
public record Route(CompiledUpstream upstream, String upstreamPath, Optional<Endpoint> endpoint) {

  /**
   * Resolves {@code /<upstream>/...} to that upstream, and the bare provider paths
   * ({@code /v1/messages}, {@code /v1/chat/completions}, ...) to the first upstream of their format.
   */
  public static Optional<Route> resolve(dev.ratekeeper.policy.compile.CompiledPolicy policy, String uri) {
    String path = uri;
    if (path.length() > 1) {
      int second = path.indexOf('/', 1);
      String first = second > 0 ? path.substring(1, second) : path.substring(1);
      int q = first.indexOf('?');
      String name = q >= 0 ? first.substring(0, q) : first;
      Optional<CompiledUpstream> named = policy.upstream(name);
      if (named.isPresent()) {
        String rest = path.substring(1 + first.length());
        if (rest.isEmpty() || rest.charAt(0) != '/') {
          rest = "/" + rest;
        }
        return Optional.of(new Route(named.get(), rest, Endpoint.of(named.get().format(), rest)));
      }
    }
    return Endpoint.formatOfBarePath(path)
        .flatMap(policy::firstUpstream)
        .map(upstream -> new Route(upstream, path, Endpoint.of(upstream.format(), path)));
  }
}
