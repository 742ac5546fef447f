package dev.ratekeeper.sidecar.store;

import dev.ratekeeper.sidecar.limiter.AdmitScriptCall;
import io.vertx.core.Future;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * One operation's Lua script ({@code lua/common.lua} followed by {@code lua/<name>.lua}), called by
 * SHA: loaded once with {@code SCRIPT LOAD}, run with {@code EVALSHA}, and sent in full with
 * {@code EVAL} when Redis answers {@code NOSCRIPT} (a restart, a failover, {@code SCRIPT FLUSH}, or a
 * Cluster node the script was never loaded on: {@code SCRIPT LOAD} has no key, so a Cluster client
 * sends it to one node, while {@code EVAL} goes, like {@code EVALSHA}, to the node that owns the
 * keys, and caches the script there).
 */
public final class LuaScript {
  private final String name;
  private final String source;
  private final String sha;

  private LuaScript(String name, String source) {
    this.name = name;
    this.source = source;
    this.sha = AdmitScriptCall.sha1(source);
  }

  /** {@code lua/<name>.lua} alone, for scripts that need none of the shared helpers. */
  public static LuaScript standalone(String name) {
    return new LuaScript(name, AdmitScriptCall.resource("lua/" + name + ".lua"));
  }

  /** {@code lua/common.lua} + {@code lua/<name>.lua} from the classpath. */
  static LuaScript named(String name) {
    return new LuaScript(name, AdmitScriptCall.scriptSource(name));
  }

  String name() {
    return name;
  }

  String source() {
    return source;
  }

  String sha() {
    return sha;
  }

  /** {@code SCRIPT LOAD}; fails if Redis hashes the script differently (it never should). */
  Future<Void> load(Function<Request, Future<Response>> send) {
    return send.apply(Request.cmd(Command.SCRIPT).arg("LOAD").arg(source)).compose(reply -> {
      String loaded = reply.toString();
      return loaded.equals(sha) ? Future.succeededFuture()
          : Future.failedFuture(new IllegalStateException(name + ".lua loaded as " + loaded + ", expected " + sha));
    });
  }

  /** {@code EVALSHA}, and {@code EVAL} with the whole script on {@code NOSCRIPT}. */
  public Future<Response> call(Function<Request, Future<Response>> send, List<String> keys, List<String> args) {
    return call(send, keys.size(), request -> {
      keys.forEach(request::arg);
      args.forEach(request::arg);
    });
  }

  /**
   * As {@link #call(Function, List, List)}, with the KEYS and ARGV words added by {@code words}
   * (the {@code keyCount} keys first): for a caller that assembles a call from parts.
   */
  public Future<Response> call(Function<Request, Future<Response>> send, int keyCount, Consumer<Request> words) {
    return send.apply(request(Command.EVALSHA, sha, keyCount, words)).recover(error -> {
      if (String.valueOf(error.getMessage()).startsWith("NOSCRIPT")) {
        return send.apply(request(Command.EVAL, source, keyCount, words));
      }
      return Future.failedFuture(error);
    });
  }

  private static Request request(Command command, String script, int keyCount, Consumer<Request> words) {
    Request request = Request.cmd(command).arg(script).arg(keyCount);
    words.accept(request);
    return request;
  }
}
