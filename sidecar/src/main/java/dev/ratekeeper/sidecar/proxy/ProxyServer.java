package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.gateway.GatewayGate;
import dev.ratekeeper.sidecar.identity.IdentityResolver;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import dev.ratekeeper.sidecar.metrics.SidecarMetrics;
import dev.ratekeeper.sidecar.time.SidecarClock;
import dev.ratekeeper.sidecar.upstream.UpstreamCooldowns;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * The proxy the agent's SDK talks to: one {@link RequestPipeline} served by one HTTP server per core.
 *
 * <p><b>Threading model</b> (the one statement of it; every class of the request path keeps it):
 * <ul>
 *   <li>The proxy is deployed as one verticle instance per core; each has its own event loop, and
 *       Vert.x spreads the connections of the shared port over them. A request and every stage of
 *       it run on the event loop that accepted its connection: results that complete elsewhere (the
 *       limiter store, Redis look-ups, the admission queue, large bodies parsed on a worker) are
 *       brought back to it ({@link Loop}). So the state of one exchange ({@link Admission},
 *       the forwarder's exchange) has a single thread and no locks.</li>
 *   <li>What the instances share is thread-safe by construction: the policy (an immutable
 *       {@code CompiledPolicy} swapped atomically), the limiter store, the cooldowns (a concurrent map
 *       of scopes, each scope's cooldown one immutable value changed by compare-and-set), the metrics
 *       (Micrometer), the in-flight body bytes (an atomic counter), the request ids (an atomic
 *       sequence) and the limits endpoint's count of looks this second (a lock held for a
 *       comparison). The {@link AdmissionQueue} runs on its own context: what reaches it from a
 *       request's event loop (a call queued, a client gone) hops onto that context.</li>
 *   <li>Nothing blocks an event loop: bodies over {@link RequestPipeline#OFF_LOOP_BYTES} are parsed
 *       on a worker thread.</li>
 *   <li>Time is read on the injected {@link SidecarClock} (cooldowns, queue deadlines, latencies).
 *       The header deadlines (a concurrent map of connections) and the queue's turns are due by
 *       it: their Vert.x timers only follow time passing, and a clock moved by hand (tests) brings
 *       what it made due at once. The body, upstream and idle time-outs are network timers, in
 *       real time.</li>
 * </ul>
 */
public final class ProxyServer {
  /** The shared random ports handed out so far, one per proxy listening on port 0 (Vert.x keys them by number). */
  private static final AtomicInteger RANDOM_PORTS = new AtomicInteger();
  private final Vertx vertx;
  private final Limits limits;
  private final BodyReader bodies;
  private final RequestPipeline pipeline;
  private final AdmissionQueue queue;
  private final List<HttpServer> servers = new CopyOnWriteArrayList<>();
  /** Connections that have not yet sent a whole request head, with their deadline. */
  private final java.util.Map<HttpConnection, HeaderDeadline> awaitingHeaders =
      new java.util.concurrent.ConcurrentHashMap<>();
  private final SidecarClock clock;
  /** Stops following the clock's moves by hand ({@link #expireHeaderDeadlines}). */
  private final Runnable unwatchClock;
  private volatile String deployment;

  /**
   * The proxy port's bounds: one body's size, the bodies held at once, the time a new connection may
   * take to send its first request's headers (whose size Vert.x bounds to 8 KiB), the time a metered
   * body may take to arrive, and how long a connection may pass no bytes either way (longer than the
   * upstream timeout, so slow answers are not cut).
   */
  public record Limits(long maxBody, long maxInflightBody, long headerTimeoutMs, long bodyTimeoutMs,
      long idleTimeoutMs) {}

  public ProxyServer(Vertx vertx, Supplier<CompiledPolicy> policy, LimiterStore limiter, IdentityResolver identity,
      SidecarMetrics metrics, Forwarder forwarder, UpstreamCooldowns cooldowns, Limits limits, String sidecarId,
      SidecarClock clock) {
    this.vertx = vertx;
    this.limits = limits;
    this.clock = clock;
    this.unwatchClock = clock.whenMoved(this::expireHeaderDeadlines);
    this.bodies = new BodyReader(vertx, limits.maxBody(), limits.maxInflightBody(), limits.bodyTimeoutMs());
    String prefix = sidecarId + "-" + Long.toString(new java.security.SecureRandom().nextLong() & Long.MAX_VALUE, 36)
        + "-";
    AtomicLong sequence = new AtomicLong();
    // unique across sidecars and restarts: sidecar id, a per-start nonce, a sequence number
    Supplier<String> requestIds = () -> prefix + Long.toString(sequence.incrementAndGet(), 36);
    this.queue = new AdmissionQueue(vertx, clock);
    Admission.Deps admission = new Admission.Deps(limiter, metrics, queue,
        new OutputHistory(), clock, requestIds);
    this.pipeline = new RequestPipeline(vertx, policy, identity, bodies, new LimitsEndpoint(limiter, identity, clock),
        forwarder, cooldowns, admission, new Responder(metrics));
  }

  /**
   * Listens with one server instance per core on the same port ({@link ProxyVerticle}). Port 0: the
   * system picks a free port as the first instance binds it, and the other instances share it (Vert.x's
   * shared random port: a negative port, one of this server's own). Completes with the first server
   * (its {@code actualPort()} is the proxy's port).
   */
  public Future<HttpServer> listen(String host, int port) {
    int instances = Math.max(1, Runtime.getRuntime().availableProcessors());
    // no port found free beforehand and bound later, which another process could take in between
    int shared = port == 0 ? -RANDOM_PORTS.incrementAndGet() : port;
    // HTTP/1.1 only: with cleartext HTTP/2 on, Vert.x makes the connection (and calls the
    // connection handler that starts the header deadline) only once it has seen a whole request head
    HttpServerOptions options = new HttpServerOptions().setTcpNoDelay(true)
        .setIdleTimeout((int) limits.idleTimeoutMs()).setIdleTimeoutUnit(TimeUnit.MILLISECONDS)
        .setDecompressionSupported(false).setHttp2ClearTextEnabled(false);
    return vertx.deployVerticle(() -> new ProxyVerticle(options, host, shared),
            new DeploymentOptions().setInstances(instances))
        .map(id -> {
          deployment = id;
          return servers.get(0);
        });
  }

  /** One server instance on its own event loop, serving the shared pipeline. */
  private final class ProxyVerticle extends VerticleBase {
    private final HttpServerOptions options;
    private final String host;
    private final int port;

    ProxyVerticle(HttpServerOptions options, String host, int port) {
      this.options = options;
      this.host = host;
      this.port = port;
    }

    @Override
    public Future<?> start() {
      return vertx.createHttpServer(options).connectionHandler(ProxyServer.this::headerDeadline)
          .requestHandler(ProxyServer.this::arrived)
          .listen(port, host).onSuccess(servers::add);
    }
  }

  /**
   * Gateway mode: the pipeline checks every request's end-user key with {@code gate} before routing it
   * (its refusals answered and counted like any other). Before {@link #listen}.
   */
  public void frontedBy(GatewayGate gate) {
    pipeline.frontedBy(gate);
  }

  /** A request head arrived: its connection's header deadline is met; then the pipeline. */
  private void arrived(HttpServerRequest req) {
    HeaderDeadline deadline = awaitingHeaders.remove(req.connection());
    if (deadline != null) {
      vertx.cancelTimer(deadline.timer());
    }
    pipeline.handle(req);
  }

  /**
   * When a connection that has not sent a whole request head yet is closed: {@code dueNanos} on the
   * sidecar's clock; {@code timer} the Vert.x timer that checks it then.
   */
  private record HeaderDeadline(long dueNanos, long timer) {}

  /**
   * A new connection must send its first request's head within {@code headerTimeoutMs} on the
   * sidecar's clock, or is closed. A timer on the connection's event loop follows time passing; a
   * clock moved by hand closes what it made late at once ({@link #expireHeaderDeadlines}).
   */
  private void headerDeadline(HttpConnection connection) {
    long due = clock.nanos() + limits.headerTimeoutMs() * 1_000_000;
    awaitingHeaders.put(connection, new HeaderDeadline(due, checkAt(connection, limits.headerTimeoutMs())));
    connection.closeHandler(v -> {
      HeaderDeadline pending = awaitingHeaders.remove(connection);
      if (pending != null) {
        vertx.cancelTimer(pending.timer());
      }
    });
  }

  /**
   * On the connection's event loop, after {@code delayMs}: closes it if its header deadline has
   * passed on the clock, else looks again when it will have.
   */
  private long checkAt(HttpConnection connection, long delayMs) {
    return vertx.setTimer(Math.max(1, delayMs), id -> {
      HeaderDeadline deadline = awaitingHeaders.get(connection);
      if (deadline == null || deadline.timer() != id) {
        return;
      }
      long leftNanos = deadline.dueNanos() - clock.nanos();
      if (leftNanos <= 0) {
        if (awaitingHeaders.remove(connection, deadline)) {
          connection.close();
        }
        return;
      }
      awaitingHeaders.replace(connection, deadline, new HeaderDeadline(deadline.dueNanos(),
          checkAt(connection, (leftNanos + 999_999) / 1_000_000)));
    });
  }

  /** The clock was moved by hand: every connection whose header deadline it passed is closed now. */
  private void expireHeaderDeadlines() {
    long now = clock.nanos();
    awaitingHeaders.forEach((connection, deadline) -> {
      if (now - deadline.dueNanos() >= 0 && awaitingHeaders.remove(connection, deadline)) {
        vertx.cancelTimer(deadline.timer());
        connection.close();
      }
    });
  }

  /** Connections that have not sent a whole request head yet (each closed at its header deadline). */
  public int awaitingHeaders() {
    return awaitingHeaders.size();
  }

  /** Stops every server instance. */
  public Future<Void> close() {
    queue.close();
    unwatchClock.run();
    String id = deployment;
    return id == null ? Future.succeededFuture() : vertx.undeploy(id);
  }

  /** Requests waiting in the admission queue right now ({@code maxQueueWait}). */
  public int queuedRequests() {
    return queue.size();
  }

  /** Bytes of request bodies this sidecar holds right now. */
  public long inflightBodyBytes() {
    return bodies.inflightBytes();
  }
}
