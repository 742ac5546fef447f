package dev.ratekeeper.sidecar.runtime;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.keys.RedisKeys;
import dev.ratekeeper.sidecar.admin.AdminServer;
import dev.ratekeeper.sidecar.config.SidecarConfig;
import dev.ratekeeper.sidecar.gateway.GatewayGate;
import dev.ratekeeper.sidecar.identity.ApiKeys;
import dev.ratekeeper.sidecar.identity.IdentityResolver;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import dev.ratekeeper.sidecar.metrics.SidecarMetrics;
import dev.ratekeeper.sidecar.proxy.Forwarder;
import dev.ratekeeper.sidecar.proxy.ProxyServer;
import dev.ratekeeper.sidecar.store.InMemoryLimiterStore;
import dev.ratekeeper.sidecar.store.RedisLimiterStore;
import dev.ratekeeper.sidecar.store.RedisClientSettings;
import dev.ratekeeper.sidecar.store.RedisLink;
import dev.ratekeeper.sidecar.store.RedisTime;
import dev.ratekeeper.sidecar.time.SidecarClock;
import dev.ratekeeper.sidecar.resilience.ResilientLimiterStore;
import dev.ratekeeper.policy.api.StoreFailureMode;
import dev.ratekeeper.sidecar.upstream.CooldownScope;
import dev.ratekeeper.sidecar.upstream.UpstreamCooldowns;
import io.vertx.core.MultiMap;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisAPI;
import io.vertx.redis.client.RedisOptions;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;

/**
 * One running sidecar: policy, limiter store, proxy and admin servers. {@link #start} is what
 * {@code main} runs; tests start several in one JVM, each with its own Vert.x.
 */
public final class Sidecar implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(Sidecar.class.getName());
  /** How often a sidecar on {@code --policy} checks for a new revision besides listening for one. */
  static final long RELOAD_POLL_MS = 2_000;
  /**
   * The Redis client logs every broken pooled connection as an unhandled error with a stack trace;
   * the store reports an outage itself, once, so those are silenced (held here so the level sticks).
   */
  private static final java.util.logging.Logger REDIS_POOL_LOG =
      java.util.logging.Logger.getLogger("io.vertx.redis.client.impl.RedisConnectionManager");

  static {
    REDIS_POOL_LOG.setLevel(java.util.logging.Level.OFF);
  }
  static final long HEARTBEAT_MS = 5_000;

  private final Vertx vertx;
  private final SidecarConfig config;
  private final SidecarClock clock;
  /** The clock the Lua scripts decide limits and cooldowns by (Redis TIME in production). */
  private final RedisTime scriptTime;
  private final SidecarMetrics metrics = new SidecarMetrics();
  private final AtomicBoolean storeAnswered = new AtomicBoolean();
  private PolicyHolder policy;
  /** Heartbeats, policy reloads, cooldowns, key lookups: light traffic on a small pool. */
  private final RedisClientSettings redisEndpoint;
  private Redis redis;
  /** The limiter's admissions and reconciles: the pipelined connections of {@link RedisLink}. */
  private RedisLink link;
  private LimiterStore store;
  private HttpServer proxyServer;
  private ProxyServer proxy;
  private HttpServer adminServer;
  private PolicyWatcher watcher;
  private UpstreamCooldowns cooldowns;
  private ResilientLimiterStore resilient;

  private Sidecar(Vertx vertx, SidecarConfig config, SidecarClock clock, RedisTime scriptTime,
      RedisClientSettings redisEndpoint) {
    this.vertx = vertx;
    this.config = config;
    this.clock = clock;
    this.scriptTime = scriptTime;
    this.redisEndpoint = redisEndpoint;
  }

  /**
   * Starts a sidecar on {@code vertx}; fails with a message naming what is wrong. {@code clock} is
   * the time every part of it reads ({@link SidecarClock#SYSTEM} in production; tests move their own).
   */
  public static Future<Sidecar> start(Vertx vertx, SidecarConfig config, SidecarClock clock) {
    return start(vertx, config, clock, config.redisClient());
  }

  /** As {@link #start(Vertx, SidecarConfig, SidecarClock)}, reaching Redis through {@code redisEndpoint} (null: in-process). */
  public static Future<Sidecar> start(Vertx vertx, SidecarConfig config, SidecarClock clock,
      RedisClientSettings redisEndpoint) {
    return start(vertx, config, clock, RedisTime.server(), redisEndpoint);
  }

  /**
   * As {@link #start(Vertx, SidecarConfig, SidecarClock, RedisClientSettings)}, with the Lua scripts
   * deciding limits and cooldowns by {@code scriptTime}: tests that move {@code clock} by hand pin it
   * to that clock ({@link RedisTime#pinned}), so that windows and cooldowns kept in Redis move with it.
   */
  public static Future<Sidecar> start(Vertx vertx, SidecarConfig config, SidecarClock clock, RedisTime scriptTime,
      RedisClientSettings redisEndpoint) {
    Sidecar sidecar = new Sidecar(vertx, config, clock, scriptTime, redisEndpoint);
    return sidecar.boot().map(v -> sidecar);
  }

  private Future<Void> boot() {
    if (redisEndpoint != null) {
      redis = Redis.createClient(vertx, new RedisOptions(redisOptions()).setMaxPoolSize(16).setMaxPoolWaiting(10_000));
    }
    Future<CompiledPolicy> loaded;
    if (config.policyFile() != null) {
      try {
        loaded = Future.succeededFuture(PolicyLoader.fromFile(config.policyFile()));
      } catch (PolicyLoader.PolicyLoadException e) {
        return Future.failedFuture(e);
      }
    } else {
      loaded = PolicyLoader.fromRedis(RedisAPI.api(redis), config.policy());
    }
    return loaded.compose(this::startWith);
  }

  private Future<Void> startWith(CompiledPolicy initial) {
    policy = new PolicyHolder(initial);
    metrics.revision(initial.revision());
    Future<Void> storeReady;
    if (redis == null) {
      LOG.log(System.Logger.Level.WARNING, "no --redis: limits are kept in this process only; "
          + "several sidecars would each allow the full limit");
      store = new InMemoryLimiterStore(LimiterOptions.DEFAULTS, clock::millis);
      storeReady = Future.succeededFuture();
    } else {
      // the limiter's own connections, warmed (scripts loaded) before the sidecar is ready
      storeReady = RedisLink.open(vertx, redisOptions(), RedisLink.PER_EVENT_LOOP, clock::nanos,
          RedisLimiterStore::loadScripts)
          .map(opened -> {
            link = opened;
            RedisLimiterStore redisStore = RedisLimiterStore.create(opened, LimiterOptions.DEFAULTS, scriptTime);
            resilient = new ResilientLimiterStore(vertx, redisStore, RedisAPI.api(redis), policy, metrics, clock);
            opened.listen(resilient);
            store = resilient;
            return null;
          });
    }
    Function<String, Future<String>> keyLookup;
    try {
      keyLookup = keyLookup(initial);
    } catch (IOException e) {
      return Future.failedFuture(e);
    }
    if (config.gateway() && keyLookup == null) {
      return Future.failedFuture(new IllegalStateException("gateway mode identifies every caller by an end user's key:"
          + " give --api-keys-file, or a policy whose identity.apiKeySecretRef the operator writes to Redis (--redis)"));
    }
    return storeReady.compose(v -> {
      storeAnswered.set(true);
      IdentityResolver identity = config.gateway() ? IdentityResolver.behindGateway()
          : new IdentityResolver(keyLookup, clock::nanos);
      cooldowns = new UpstreamCooldowns(redis, initial.id(), config.sidecarId(), clock, scriptTime);
      Forwarder forwarder = new Forwarder(vertx, config.upstreamOverrides(), config.upstreamKeys(),
          config.connectTimeoutMs(), config.upstreamTimeoutMs(), new Forwarder.UpstreamObserver() {
            @Override
            public Future<Void> throttled(CooldownScope scope, MultiMap headers) {
              return cooldowns.onThrottle(scope.key(), headers)
                  .onFailure(e -> LOG.log(System.Logger.Level.WARNING, "cooldown not shared: " + e));
            }

            @Override
            public void answered(CooldownScope scope, CooldownScope quotaScope, long sentNanos, MultiMap headers) {
              cooldowns.onSuccess(scope.key(), sentNanos);
              if (!quotaScope.equals(scope)) {
                cooldowns.onSuccess(quotaScope.key(), sentNanos);
              }
              cooldowns.onAnswer(quotaScope.key(), headers);
            }
          }, clock);
      ProxyServer proxy = new ProxyServer(vertx, policy, store, identity, metrics, forwarder, cooldowns,
          new ProxyServer.Limits(config.maxBodyBytes(), config.maxInflightBodyBytes(), config.headerTimeoutMs(),
              config.bodyTimeoutMs(), config.idleTimeoutMs()), config.sidecarId(), clock);
      this.proxy = proxy;
      if (config.gateway()) {
        frontWithGate(proxy, initial, IdentityResolver.forGateway(keyLookup, clock::nanos));
      }
      return proxy.listen(config.listen().host(), config.listen().port());
    }).compose(server -> {
      proxyServer = server;
      return new AdminServer(vertx, metrics, this::ready).listen(config.adminListen().host(),
          config.adminListen().port());
    }).map(server -> {
      adminServer = server;
      if (redis != null) {
        watcher = new PolicyWatcher(vertx, redis, policy, metrics, cooldowns, config.sidecarId(),
            config.gateway(), BuildVersion.current(), config.policy() != null, RELOAD_POLL_MS, HEARTBEAT_MS, clock);
        watcher.start();
      }
      LOG.log(System.Logger.Level.INFO, "ratekeeper " + (config.gateway() ? "gateway " : "sidecar ")
          + config.sidecarId() + " (version " + BuildVersion.current() + ") enforcing " + initial.id()
          + " revision " + initial.revision() + " on " + config.listen().host() + ":" + proxyServer.actualPort()
          + " (admin :" + adminServer.actualPort() + ", store " + (redis == null ? "in-process"
          : redisEndpoint) + ")");
      return null;
    });
  }

  /**
   * Gateway mode: every request passes the {@link GatewayGate} first (end users' keys required, client
   * identity and credential headers dropped). Upstreams the gateway holds no key for are named once.
   */
  private void frontWithGate(ProxyServer proxy, CompiledPolicy initial, IdentityResolver keys) {
    initial.upstreams().stream().filter(u -> !config.upstreamKeys().containsKey(u.name())).forEach(u ->
        LOG.log(System.Logger.Level.WARNING, "gateway mode: no provider key for upstream " + u.name() + " ("
            + dev.ratekeeper.cli.SidecarEnvironment.upstreamKeyVariable(u.name())
            + "): its calls go out without credentials (clients' own are never forwarded)"));
    proxy.frontedBy(new GatewayGate(keys));
  }

  /** Where Redis is and how to log in: the limiter's link and the auxiliary client both use these. */
  private RedisOptions redisOptions() {
    return redisEndpoint.toOptions();
  }

  /** End users' keys: a keys file when given, else the hashed mapping the operator writes to Redis. */
  private Function<String, Future<String>> keyLookup(CompiledPolicy initial) throws IOException {
    if (config.apiKeysFile() != null) {
      Map<String, String> byHash = ApiKeys.readFile(config.apiKeysFile());
      return hash -> Future.succeededFuture(byHash.get(hash));
    }
    if (redis != null && initial.identity().apiKeySecretName() != null) {
      RedisAPI api = RedisAPI.api(redis);
      RedisKeys keys = new RedisKeys(initial.id());
      return hash -> api.hget(keys.apiKeys(), hash).map(r -> r == null ? null : r.toString());
    }
    return null;
  }

  /**
   * Ready once a policy is loaded and the store answered at least once; while Redis is away it stays
   * ready in FailOpen and LocalFallback (the pod keeps serving) and is not in FailClosed.
   */
  public boolean ready() {
    if (policy == null || !storeAnswered.get()) {
      return false;
    }
    return resilient == null || resilient.up() || policy.get().onStoreUnavailable() != StoreFailureMode.FailClosed;
  }

  /** Live sidecars of the policy as this one last counted them (1 without Redis). */
  public int liveSidecars() {
    return resilient == null ? 1 : resilient.liveSidecars();
  }

  /**
   * Counts the live sidecars now instead of at the next periodic count (tests that move the clock);
   * completes with the count (1 without Redis).
   */
  public Future<Integer> countLiveSidecars() {
    return resilient == null ? Future.succeededFuture(1) : resilient.countLiveSidecars();
  }

  /** Whether the limit store answers (always true for the in-process store). */
  public boolean storeUp() {
    return resilient == null || resilient.up();
  }

  public int proxyPort() {
    return proxyServer.actualPort();
  }

  public int adminPort() {
    return adminServer.actualPort();
  }

  /** Bytes of request bodies the proxy holds right now. */
  public long inflightBodyBytes() {
    return proxy.inflightBodyBytes();
  }

  /** Connections to the proxy that have not sent a whole request head yet. */
  public int awaitingHeaders() {
    return proxy.awaitingHeaders();
  }

  /** Requests waiting in the admission queue right now. */
  public int queuedRequests() {
    return proxy.queuedRequests();
  }

  public CompiledPolicy policy() {
    return policy.get();
  }

  public SidecarMetrics metrics() {
    return metrics;
  }

  /** The upstream cooldowns this sidecar holds to (what it has heard from the fleet and Redis). */
  public UpstreamCooldowns cooldowns() {
    return cooldowns;
  }

  public LimiterStore store() {
    return store;
  }

  /** The revision refused for an unknown schemaVersion, if any; null when none was. */
  public String refusedRevision() {
    return watcher == null ? null : watcher.refusedRevision();
  }

  @Override
  public void close() {
    try {
      if (watcher != null) {
        watcher.close();
      }
      if (resilient != null) {
        resilient.close();
      }
      if (proxy != null) {
        proxy.close().toCompletionStage().toCompletableFuture().get(5, java.util.concurrent.TimeUnit.SECONDS);
      }
      if (adminServer != null) {
        adminServer.close().toCompletionStage().toCompletableFuture().get(5, java.util.concurrent.TimeUnit.SECONDS);
      }
      if (link != null) {
        link.close().toCompletionStage().toCompletableFuture().get(5, java.util.concurrent.TimeUnit.SECONDS);
      }
      if (redis != null) {
        redis.close();
      }
    } catch (Exception e) {
      LOG.log(System.Logger.Level.DEBUG, "close: " + e);
    }
  }
}
