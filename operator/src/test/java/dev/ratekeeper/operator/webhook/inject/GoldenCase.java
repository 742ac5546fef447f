package dev.ratekeeper.operator.webhook.inject;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.ratekeeper.operator.api.RateLimitPolicy;
import dev.ratekeeper.operator.webhook.ClusterLookup;
import dev.ratekeeper.operator.webhook.inject.InjectionContext.EnvSource;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * One golden case: {@code testdata/pods/<case>.yaml} holds the pod (first document) and the
 * cluster it is created in (RateLimitPolicies, ConfigMaps and Secrets of the namespace); its
 * expected result is {@code <case>.yaml.injected}.
 *
 * <p>Conventions: the namespace is the pod's, else {@value #NAMESPACE}. An envFrom source that is
 * not in the file does not exist; one annotated {@code testdata.ratekeeper.dev/unreadable: "true"}
 * exists but could not be read. A first-lines comment {@code # settings: mode=Container,
 * onMissingPolicy=AdmitUninjected, gatewayUrl=http://...} changes the injection settings from
 * {@link #BASE_SETTINGS}.
 */
record GoldenCase(String name, Path file, JsonNode rawPod, Pod pod, InjectionContext context,
    InjectionSettings settings) {

  static final String NAMESPACE = "agents";
  static final String UNREADABLE = "testdata.ratekeeper.dev/unreadable";
  static final InjectionSettings BASE_SETTINGS = InjectionSettings.defaults("redis://redis.ratekeeper.svc:6379")
      .withImage("ghcr.io/ratekeeper/ratekeeper-sidecar:test")
      .withRedisPasswordSecret(new InjectionSettings.SecretKey("ratekeeper-redis", "password"));

  static final YAMLMapper YAML = new YAMLMapper();
  /** Writes golden files: plain YAML, quotes only where needed, long lines kept whole. */
  static final YAMLMapper YAML_WRITER = YAMLMapper.builder()
      .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
      .disable(YAMLGenerator.Feature.SPLIT_LINES)
      .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
      .enable(YAMLGenerator.Feature.ALWAYS_QUOTE_NUMBERS_AS_STRINGS)
      .build();
  static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();
  private static final Pattern SETTINGS = Pattern.compile("(?m)^# settings: (.*)$");
  private static final Pattern DOCUMENT_SEPARATOR = Pattern.compile("(?m)^---\\s*$");

  /** Where the golden files live: the source tree, so that refreshing rewrites the checked-in files. */
  static Path dir() {
    String root = System.getProperty("ratekeeper.root");
    Path base = root != null ? Path.of(root, "operator") : Path.of("");
    return base.resolve("src/test/resources/testdata/pods").toAbsolutePath();
  }

  static List<GoldenCase> all() {
    try (Stream<Path> files = Files.list(dir())) {
      return files.filter(p -> p.getFileName().toString().endsWith(".yaml")).sorted().map(GoldenCase::load).toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static GoldenCase named(String name) {
    return load(dir().resolve(name + ".yaml"));
  }

  Path expectedFile() {
    return file.resolveSibling(file.getFileName() + ".injected");
  }

  static GoldenCase load(Path file) {
    String text;
    try {
      text = Files.readString(file);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    JsonNode rawPod = null;
    List<RateLimitPolicy> policies = new ArrayList<>();
    Map<EnvSource, Set<String>> keys = new HashMap<>();
    Set<EnvSource> present = new HashSet<>();
    for (String doc : DOCUMENT_SEPARATOR.split(text)) {
      JsonNode node;
      try {
        node = YAML.readTree(doc);
      } catch (IOException e) {
        throw new UncheckedIOException(file + ": " + e.getMessage(), e);
      }
      if (node == null || node.isMissingNode() || node.isNull()) {
        continue;
      }
      String kind = node.path("kind").asText();
      boolean unreadable = "true".equals(node.path("metadata").path("annotations").path(UNREADABLE).asText());
      switch (kind) {
        case "Pod" -> rawPod = node;
        case "RateLimitPolicy" -> policies.add(SERIALIZATION.convertValue(node, RateLimitPolicy.class));
        case "ConfigMap" -> {
          ConfigMap cm = SERIALIZATION.convertValue(node, ConfigMap.class);
          EnvSource source = new EnvSource(EnvSource.Kind.ConfigMap, cm.getMetadata().getName());
          present.add(source);
          if (!unreadable) {
            keys.put(source, ClusterLookup.keysOf(cm));
          }
        }
        case "Secret" -> {
          Secret secret = SERIALIZATION.convertValue(node, Secret.class);
          EnvSource source = new EnvSource(EnvSource.Kind.Secret, secret.getMetadata().getName());
          present.add(source);
          if (!unreadable) {
            keys.put(source, ClusterLookup.keysOf(secret));
          }
        }
        default -> throw new IllegalArgumentException(file + ": unexpected kind " + kind);
      }
    }
    if (rawPod == null) {
      throw new IllegalArgumentException(file + ": no Pod");
    }
    Pod pod = SERIALIZATION.convertValue(rawPod, Pod.class);
    String namespace = pod.getMetadata().getNamespace() != null ? pod.getMetadata().getNamespace() : NAMESPACE;
    Set<EnvSource> absent = new HashSet<>(SidecarInjector.envSources(pod));
    absent.removeAll(present);
    InjectionContext ctx = new InjectionContext(namespace, InjectionContext.viewsOf(policies), keys, absent);
    String name = file.getFileName().toString().replaceFirst("\\.yaml$", "");
    return new GoldenCase(name, file, rawPod, pod, ctx, settings(text));
  }

  private static InjectionSettings settings(String text) {
    InjectionSettings settings = BASE_SETTINGS;
    Matcher m = SETTINGS.matcher(text);
    if (m.find()) {
      for (String pair : m.group(1).split(",")) {
        String[] kv = pair.strip().split("=", 2);
        switch (kv[0]) {
          case "mode" -> settings = settings.withMode(SidecarMode.valueOf(kv[1]));
          case "onMissingPolicy" -> settings = settings.withOnMissingPolicy(MissingPolicyAction.valueOf(kv[1]));
          case "gatewayUrl" -> settings = settings.withGatewayUrl(kv[1]);
          // redis=<mode>:<master name or ->:<user Secret/key or ->:<CA ConfigMap/key or ->:<verify host name>
          //   [:<client certificate Secret>]
          case "redis" -> {
            String[] r = kv[1].split(":");
            settings = settings.withRedisAccess(new InjectionSettings.RedisAccess(dash(r[0]), dash(r[1]),
                r[2].equals("-") ? null : new InjectionSettings.SecretKey(r[2].split("/")[0], r[2].split("/")[1]),
                r[3].equals("-") ? null : r[3].split("/")[0], r[3].equals("-") ? null : r[3].split("/")[1],
                Boolean.parseBoolean(r[4]), r.length > 5 ? r[5] : null));
          }
          default -> throw new IllegalArgumentException("unknown setting " + kv[0]);
        }
      }
    }
    return settings;
  }

  private static String dash(String value) {
    return value.equals("-") ? null : value;
  }

  @Override
  public String toString() {
    return name;
  }
}
