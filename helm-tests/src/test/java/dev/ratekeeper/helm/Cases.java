package dev.ratekeeper.helm;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;

/**
 * The values combinations every chart-wide test runs: src/test/resources/cases/NAME.yaml, each with
 * a golden rendering under src/test/resources/golden/NAME.yaml.
 */
final class Cases {
  static final List<String> ALL = List.of(
      "default",
      "external-redis",
      "external-redis-cluster",
      "external-redis-sentinel",
      "cert-manager",
      "redis-without-persistence",
      "monitoring",
      "restricted-namespaces",
      "webhook-ignore",
      "network-policies",
      "gateway",
      "gateway-redis-cluster",
      "gateway-redis-sentinel",
      "query-api");

  private Cases() {}

  static List<String> all() {
    return ALL;
  }

  static Path valuesFile(String name) {
    var url = Cases.class.getResource("/cases/" + name + ".yaml");
    if (url == null) {
      throw new IllegalArgumentException("no values file cases/" + name + ".yaml");
    }
    try {
      return Path.of(url.toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }
}
