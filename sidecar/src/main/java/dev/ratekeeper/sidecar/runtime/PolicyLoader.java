package dev.ratekeeper.sidecar.runtime;

import dev.ratekeeper.policy.compile.Compilation;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.compile.PolicyCodec;
import dev.ratekeeper.policy.compile.PolicyCompiler;
import dev.ratekeeper.policy.compile.PolicyDocument;
import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.policy.keys.RedisKeys;
import io.vertx.core.Future;
import io.vertx.redis.client.RedisAPI;
import io.vertx.redis.client.Response;
import java.io.IOException;
import java.nio.file.Path;

/** Where the sidecar's policy comes from: a YAML file it compiles itself, or the revision the operator wrote to Redis. */
public final class PolicyLoader {
  private PolicyLoader() {}

  /** The policy is unusable; the message names every problem. */
  public static final class PolicyLoadException extends Exception {
    public PolicyLoadException(String message) {
      super(message);
    }
  }

  /** Reads and compiles a RateLimitPolicy file; every violation is named in the exception. */
  public static CompiledPolicy fromFile(Path file) throws PolicyLoadException {
    PolicyDocument document;
    try {
      document = PolicyDocument.read(file);
    } catch (IOException e) {
      throw new PolicyLoadException(file + ": " + e.getMessage());
    }
    Compilation compilation = PolicyCompiler.compile(document.id(), document.spec());
    if (!compilation.ok()) {
      throw new PolicyLoadException(file + " is not a valid RateLimitPolicy:\n  "
          + compilation.describeViolations().replace("\n", "\n  "));
    }
    return compilation.policy();
  }

  /**
   * Reads the current compiled revision of {@code id} from Redis. Fails when there is none yet or
   * when its schemaVersion is not one this build understands.
   */
  public static Future<CompiledPolicy> fromRedis(RedisAPI redis, PolicyId id) {
    RedisKeys keys = new RedisKeys(id);
    return redis.get(keys.currentRevision()).compose(rev -> {
      if (rev == null) {
        return Future.failedFuture(new PolicyLoadException("no compiled policy for " + id + " in Redis ("
            + keys.currentRevision() + " is empty): is the operator running and the policy Accepted?"));
      }
      return redis.get(keys.revision(rev.toString())).compose(json -> decode(id, rev, json));
    });
  }

  private static Future<CompiledPolicy> decode(PolicyId id, Response rev, Response json) {
    if (json == null) {
      return Future.failedFuture(new PolicyLoadException("revision " + rev + " of " + id + " is missing in Redis"));
    }
    try {
      CompiledPolicy policy = PolicyCodec.fromJson(json.toString());
      return Future.succeededFuture(new CompiledPolicy(policy.schemaVersion(), id, policy.revision(), policy.mode(),
          policy.identity(), policy.defaultTier(), policy.defaultMaxTokens(), policy.tiers(), policy.users(),
          policy.models(), policy.global(), policy.warnAtPercent(), policy.clampMaxTokens(), policy.upstreams(),
          policy.unmeteredPaths(), policy.onStoreUnavailable(), policy.allowUnmeterable(),
          policy.refuseUnpricedModels()));
    } catch (RuntimeException e) {
      return Future.failedFuture(new PolicyLoadException("revision " + rev + " of " + id + ": " + e.getMessage()));
    }
  }
}
