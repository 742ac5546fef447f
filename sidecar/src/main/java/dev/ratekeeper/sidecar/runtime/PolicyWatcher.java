package dev.ratekeeper.sidecar.runtime;

import dev.ratekeeper.sidecar.time.SidecarClock;
import dev.ratekeeper.policy.compile.PolicyId;
import dev.ratekeeper.policy.keys.RedisKeys;
import dev.ratekeeper.sidecar.metrics.SidecarMetrics;
import dev.ratekeeper.sidecar.upstream.UpstreamCooldowns;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisAPI;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import io.vertx.redis.client.ResponseType;
import java.util.List;

/**
 * Keeps a sidecar started with {@code --policy ns/name} on the current revision: subscribes to the
 * policy's change channel, reloads on every message, and polls as well in case pub/sub drops. A
 * revision whose {@code schemaVersion} this build does not understand is refused and the last good
 * one kept. It also writes the heartbeat the operator counts for the {@code Enforced} condition: the
 * sidecar's id and the revision it enforces, with a TTL, and beside it what it runs (its build
 * version and whether it is a sidecar or a gateway), in one round trip. The same subscription carries the upstream
 * cooldowns other sidecars announce ({@link UpstreamCooldowns}).
 */
public final class PolicyWatcher implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(PolicyWatcher.class.getName());
  /** A heartbeat older than this no longer counts as a live sidecar. */
  public static final long HEARTBEAT_TTL_MS = 15_000;
  /** {@code mode} of the heartbeat's build hash: a proxy in the agent's pod, or a shared gateway. */
  public static final String MODE_SIDECAR = "sidecar";
  public static final String MODE_GATEWAY = "gateway";

  private final Vertx vertx;
  private final Redis redis;
  private final RedisAPI api;
  private final PolicyId id;
  private final RedisKeys keys;
  private final PolicyHolder holder;
  private final SidecarMetrics metrics;
  private final UpstreamCooldowns cooldowns;
  private final String sidecarId;
  private final String mode;
  private final String version;
  private final boolean reload;
  private final long pollMs;
  private final long heartbeatMs;
  /** Heartbeats are scored with its wall-clock time. */
  private final SidecarClock clock;
  private RedisConnection subscription;
  private long pollTimer = -1;
  private long heartbeatTimer = -1;
  private volatile boolean closed;
  private volatile String refusedRevision;

  /**
   * @param reload follow revisions in Redis ({@code --policy}); false for {@code --policy-file},
   *     which only heartbeats
   * @param gateway it runs as a shared gateway ({@code --mode gateway}), reported in the heartbeat
   * @param version its build version ({@link BuildVersion#current()}), reported in the heartbeat
   */
  public PolicyWatcher(Vertx vertx, Redis redis, PolicyHolder holder, SidecarMetrics metrics,
      UpstreamCooldowns cooldowns, String sidecarId, boolean gateway, String version, boolean reload, long pollMs,
      long heartbeatMs, SidecarClock clock) {
    this.clock = clock;
    this.cooldowns = cooldowns;
    this.vertx = vertx;
    this.redis = redis;
    this.api = RedisAPI.api(redis);
    this.id = holder.get().id();
    this.keys = new RedisKeys(id);
    this.holder = holder;
    this.metrics = metrics;
    this.sidecarId = sidecarId;
    this.mode = gateway ? MODE_GATEWAY : MODE_SIDECAR;
    this.version = version;
    this.reload = reload;
    this.pollMs = pollMs;
    this.heartbeatMs = heartbeatMs;
  }

  public void start() {
    heartbeat();
    heartbeatTimer = vertx.setPeriodic(heartbeatMs, t -> heartbeat());
    subscribe();
    pollTimer = vertx.setPeriodic(pollMs, t -> poll());
  }

  private void poll() {
    if (reload) {
      reload("poll");
    }
    cooldowns.refresh(holder.get().upstreams().stream().map(u -> u.name()).toList());
  }

  /** The revision that was refused for its schemaVersion, if any (for tests and /metrics). */
  public String refusedRevision() {
    return refusedRevision;
  }

  private void heartbeat() {
    if (closed) {
      return;
    }
    // one pipelined round trip; every key carries the policy's hash tag, so one node (cluster) takes it all.
    // The revision key keeps its old form (the revision alone) for operators that predate the build hash.
    String ttl = Long.toString(HEARTBEAT_TTL_MS);
    String build = keys.sidecarBuild(sidecarId);
    redis.batch(List.of(
            Request.cmd(Command.ZADD).arg(keys.sidecars()).arg(clock.millis()).arg(sidecarId),
            Request.cmd(Command.SET).arg(keys.sidecar(sidecarId)).arg(holder.get().revision()).arg("PX").arg(ttl),
            Request.cmd(Command.HSET).arg(build).arg("version").arg(version).arg("mode").arg(mode),
            Request.cmd(Command.PEXPIRE).arg(build).arg(ttl)))
        .onFailure(e -> LOG.log(System.Logger.Level.DEBUG, "heartbeat failed: " + e));
  }

  private void subscribe() {
    if (closed) {
      return;
    }
    redis.connect().onSuccess(conn -> {
      subscription = conn;
      conn.handler(this::onPush);
      conn.exceptionHandler(e -> resubscribeLater());
      conn.endHandler(v -> resubscribeLater());
      Request subscribe = Request.cmd(Command.SUBSCRIBE).arg(cooldowns.channel());
      if (reload) {
        subscribe.arg(keys.changeChannel());
      }
      conn.send(subscribe)
          .onSuccess(r -> poll())
          .onFailure(e -> resubscribeLater());
    }).onFailure(e -> resubscribeLater());
  }

  private void resubscribeLater() {
    if (!closed) {
      subscription = null;
      vertx.setTimer(1_000, t -> subscribe());
    }
  }

  private void onPush(Response push) {
    // RESP2: ["message", channel, payload]; RESP3: a push of the same three
    if ((push.type() == ResponseType.MULTI || push.type() == ResponseType.PUSH) && push.size() >= 3
        && "message".equals(push.get(0).toString())) {
      if (push.get(1).toString().equals(cooldowns.channel())) {
        cooldowns.onAnnouncement(push.get(2).toString());
      } else if (reload) {
        reload("published " + push.get(2));
      }
    }
  }

  private void reload(String why) {
    if (closed) {
      return;
    }
    api.get(keys.currentRevision()).onSuccess(rev -> {
      if (rev == null || rev.toString().equals(holder.get().revision()) || rev.toString().equals(refusedRevision)) {
        return;
      }
      PolicyLoader.fromRedis(api, id).onSuccess(next -> {
        if (holder.switchTo(next)) {
          metrics.revision(next.revision());
          refusedRevision = null;
          LOG.log(System.Logger.Level.INFO, "now enforcing " + id + " revision " + next.revision() + " (" + why + ")");
          heartbeat();
        }
      }).onFailure(e -> {
        refusedRevision = rev.toString();
        LOG.log(System.Logger.Level.WARNING, "keeping revision " + holder.get().revision() + " of " + id
            + ": revision " + rev + " refused: " + e.getMessage());
      });
    });
  }

  @Override
  public void close() {
    closed = true;
    if (pollTimer >= 0) {
      vertx.cancelTimer(pollTimer);
    }
    if (heartbeatTimer >= 0) {
      vertx.cancelTimer(heartbeatTimer);
    }
    RedisConnection conn = subscription;
    if (conn != null) {
      conn.close();
    }
  }
}
