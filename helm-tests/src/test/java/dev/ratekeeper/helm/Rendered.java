package dev.ratekeeper.helm;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;
import java.nio.charset.StandardCharsets;

/** Helm's output: its text and every document as a Fabric8 object. */
final class Rendered {
  private static final Pattern SEPARATOR = Pattern.compile("(?m)^---\\s*$");

  final String text;
  final List<HasMetadata> objects;

  Rendered(String text) {
    this.text = text;
    List<HasMetadata> parsed = new ArrayList<>();
    for (String doc : SEPARATOR.split(text)) {
      if (doc.lines().allMatch(l -> l.isBlank() || l.stripLeading().startsWith("#"))) {
        continue;
      }
      Object o = Serialization.unmarshal(doc);
      if (!(o instanceof HasMetadata h)) {
        throw new AssertionError("not a Kubernetes object:\n" + doc);
      }
      parsed.add(h);
    }
    this.objects = List.copyOf(parsed);
  }

  <T extends HasMetadata> List<T> all(Class<T> type) {
    return objects.stream().filter(type::isInstance).map(type::cast).toList();
  }

  <T extends HasMetadata> T one(Class<T> type, String name) {
    List<T> found = all(type).stream().filter(o -> o.getMetadata().getName().equals(name)).toList();
    if (found.size() != 1) {
      throw new AssertionError("expected one " + type.getSimpleName() + " " + name + ", found " + found.size()
          + " among " + names());
    }
    return found.get(0);
  }

  boolean has(String kind, String name) {
    return objects.stream().anyMatch(o -> o.getKind().equals(kind) && o.getMetadata().getName().equals(name));
  }

  /** Objects of a kind Fabric8 has no class for (cert-manager, Prometheus Operator). */
  List<GenericKubernetesResource> generic(String kind) {
    return objects.stream().filter(o -> o instanceof GenericKubernetesResource && o.getKind().equals(kind))
        .map(GenericKubernetesResource.class::cast).toList();
  }

  GenericKubernetesResource oneGeneric(String kind) {
    List<GenericKubernetesResource> found = generic(kind);
    if (found.size() != 1) {
      throw new AssertionError("expected one " + kind + ", found " + found.size() + " among " + names());
    }
    return found.get(0);
  }

  List<String> names() {
    return objects.stream().map(o -> o.getKind() + "/" + o.getMetadata().getName()).toList();
  }

  Deployment operator() {
    return one(Deployment.class, Chart.RELEASE + "-operator");
  }

  Container operatorContainer() {
    return operator().getSpec().getTemplate().getSpec().getContainers().get(0);
  }

  /** The operator container's environment by name (values, or null for valueFrom). */
  Map<String, EnvVar> operatorEnv() {
    Map<String, EnvVar> env = new LinkedHashMap<>();
    for (EnvVar e : operatorContainer().getEnv()) {
      if (env.put(e.getName(), e) != null) {
        throw new AssertionError("env " + e.getName() + " is set twice");
      }
    }
    return env;
  }

  String envValue(String name) {
    EnvVar e = operatorEnv().get(name);
    return e == null ? null : e.getValue();
  }

  /** The decoded value of a Secret's key. */
  static String secretValue(Secret secret, String key) {
    String encoded = Objects.requireNonNull(secret.getData(), "no data").get(key);
    return encoded == null ? null : new String(Base64.getDecoder().decode(encoded), StandardCharsets.UTF_8);
  }

  /**
   * Paths of fields Fabric8's model does not know (it keeps them as "additional properties"): a
   * typo or a field at the wrong level in a template. Objects of kinds without a model class
   * (GenericKubernetesResource) are not checked.
   */
  static List<String> unknownFields(HasMetadata object) {
    List<String> found = new ArrayList<>();
    if (!(object instanceof GenericKubernetesResource)) {
      walk(object, object.getKind(), found);
    }
    return found;
  }

  private static void walk(Object o, String path, List<String> found) {
    if (o == null) {
      return;
    }
    if (o instanceof Collection<?> c) {
      int i = 0;
      for (Object item : c) {
        walk(item, path + "[" + i++ + "]", found);
      }
      return;
    }
    if (o instanceof Map<?, ?> m) {
      m.forEach((k, v) -> walk(v, path + "." + k, found));
      return;
    }
    if (!o.getClass().getName().startsWith("io.fabric8.kubernetes.api.model")) {
      return;
    }
    for (Method method : o.getClass().getMethods()) {
      if (method.getParameterCount() != 0 || Modifier.isStatic(method.getModifiers())
          || method.getDeclaringClass() == Object.class) {
        continue;
      }
      String name = method.getName();
      try {
        if (name.equals("getAdditionalProperties")) {
          Map<?, ?> extra = (Map<?, ?>) method.invoke(o);
          if (extra != null && !extra.isEmpty()) {
            extra.keySet().forEach(k -> found.add(path + "." + k));
          }
        } else if (name.startsWith("get") && name.length() > 3) {
          walk(method.invoke(o), path + "." + Character.toLowerCase(name.charAt(3)) + name.substring(4), found);
        }
      } catch (ReflectiveOperationException e) {
        throw new IllegalStateException(e);
      }
    }
  }
}
