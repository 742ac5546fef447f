package dev.ratekeeper.policy.compile;

import java.util.Objects;

/** A policy's identity: namespace and name. Its Redis hash tag groups every key of the policy in one slot. */
public record PolicyId(String namespace, String name) {
  public PolicyId {
    Objects.requireNonNull(namespace, "namespace");
    Objects.requireNonNull(name, "name");
  }

  /** Parses {@code namespace/name}. */
  public static PolicyId parse(String text) {
    int slash = text == null ? -1 : text.indexOf('/');
    if (slash <= 0 || slash == text.length() - 1 || text.indexOf('/', slash + 1) >= 0) {
      throw new IllegalArgumentException("expected <namespace>/<name>, got \"" + text + "\"");
    }
    return new PolicyId(text.substring(0, slash), text.substring(slash + 1));
  }

  /** {@code {namespace/name}}: the Redis Cluster hash tag shared by all keys of this policy. */
  public String hashTag() {
    return "{" + namespace + "/" + name + "}";
  }

  @Override
  public String toString() {
    return namespace + "/" + name;
  }
}
