package dev.ratekeeper.sidecar.store;

import io.vertx.core.Context;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.function.LongSupplier;

/**
 * How the sidecar's limiter talks to Redis: a small fixed set of long-lived connections, each
 * pipelined (many commands in flight, answered in order), opened and warmed (scripts loaded) before
 * the sidecar is ready, re-opened in the background. No pool that grows under a burst: a burst is
 * more commands in flight on the same connections, up to {@link #MAX_IN_FLIGHT}; beyond that, or
 * while a connection is being re-opened, a command waits in a bounded queue (back-pressure), and
 * only past that queue, or once Redis is judged unavailable, is it refused.
 *
 * <p><b>When Redis counts as unavailable</b> (the evidence rule, docs/reliability.md):
 * <ul>
 *   <li>a connection is lost and re-opening it fails (refused, reset, or not open and warmed within
 *       {@link #CONNECT_TIMEOUT_MS}); or</li>
 *   <li>a connection has had commands waiting for {@link #STALL_MS} with no answer at all in that
 *       time (Redis stopped, paused, or a network that drops packets without a reset).</li>
 * </ul>
 * A single slow answer is not evidence: while answers keep coming, Redis is up, however late one of
 * them is. The stall is judged by a timer on the connection's own event loop, after that loop has
 * read whatever answers arrived, and not at all in a tick that fired late (this process was paused:
 * GC, a starved CPU), so the sidecar's own pauses never look like Redis'.
 * Silences and late ticks are measured on the sidecar's clock ({@code SidecarClock#nanos}, passed
 * to {@link #open}); the ticks themselves come from a Vert.x timer. A test that moves that clock by
 * hand moves Redis' silences with it (and the tick right after a move counts as late).
 *
 * <p><b>Back</b>: while unavailable, a connection still silent after {@link #REPLACE_SILENT_MS} is closed and
 * replaced (a connection a middlebox froze never recovers by itself), a closed one is re-opened every
 * {@link #PROBE_MS}, and an open one is sent one {@code PING} at a time. Redis counts as available
 * again once every connection is open and has answered (a warm-up or a {@code PING}) since the outage
 * began.
 *
 * <p>Threading: {@link #send} may be called from any thread and answers on the caller's context;
 * each connection's state is changed only on its own event loop's thread (from its context, or from
 * a caller's context on the same loop); the listener is called on a connection's context.
 */
public final class RedisLink {
  private static final System.Logger LOG = System.getLogger(RedisLink.class.getName());
  /** Connections kept open at least (the sidecar opens one per event loop of its Vert.x; docs/benchmarks.md). */
  public static final int CONNECTIONS = 2;
  /**
   * Connections kept open at most: a pod without a CPU limit sees every core of its node, and one
   * connection per event loop there would load Redis with hundreds of clients per pod.
   */
  public static final int MAX_CONNECTIONS = 8;
  /**
   * What the sidecar opens: one connection per event loop of a default Vert.x (two per core), within
   * {@link #CONNECTIONS} and {@link #MAX_CONNECTIONS}, so each proxy server's loop sends on its own.
   */
  public static final int PER_EVENT_LOOP =
      Math.max(CONNECTIONS, Math.min(MAX_CONNECTIONS, VertxOptions.DEFAULT_EVENT_LOOP_POOL_SIZE));
  /** Commands in flight across all connections before new ones queue. */
  static final int MAX_IN_FLIGHT = 4_096;
  /** Commands that may wait for a place in flight (or for a connection) before one is refused. */
  static final int MAX_QUEUED = 16_384;
  /** No answer for this long with commands waiting: Redis is unavailable. */
  public static final long STALL_MS = 500;
  /** How often each connection's stall is judged. */
  static final long WATCH_MS = 100;
  /** While unavailable: how often a closed connection is re-opened. */
  public static final long PROBE_MS = 200;
  /**
   * While Redis is unavailable, a connection with no answer for this long is closed and replaced: long
   * enough that a paused Redis answers on the connection it has when it resumes, short enough that a
   * connection a middlebox froze is not waited on for ever.
   */
  public static final long REPLACE_SILENT_MS = 3_000;
  /** A re-opened connection not open and warmed up within this is a failed attempt (evidence). */
  public static final long CONNECT_TIMEOUT_MS = 2_000;
  /** At start, while the sidecar is not ready yet, a cold process on a busy node may take longer. */
  static final long OPEN_TIMEOUT_MS = 15_000;

  /** Told when Redis becomes unavailable and available again; called once per change. */
  public interface Listener {
    void unavailable(String evidence);

    void available();
  }

  private final Vertx vertx;
  /** The sidecar's monotonic clock, ns: the stall watchdog judges silences by it. */
  private final LongSupplier nanos;
  private final RedisOptions options;
  private volatile Listener listener = new Listener() {
    @Override
    public void unavailable(String evidence) {}

    @Override
    public void available() {}
  };
  private final Function<Function<Request, Future<Response>>, Future<Void>> warmUp;
  private final List<Slot> slots = new ArrayList<>();
  /** The deployment whose instances gave the connections their event loops; undeployed at close. */
  private volatile String deployment;
  private final AtomicInteger next = new AtomicInteger();
  private final AtomicInteger inFlight = new AtomicInteger();
  private final ConcurrentLinkedQueue<Queued> queue = new ConcurrentLinkedQueue<>();
  private final AtomicInteger queued = new AtomicInteger();
  private final AtomicBoolean draining = new AtomicBoolean();
  private volatile boolean available = true;
  private volatile boolean closed;

  private RedisLink(Vertx vertx, RedisOptions options, List<Context> loops, LongSupplier nanos,
      Function<Function<Request, Future<Response>>, Future<Void>> warmUp) {
    this.vertx = vertx;
    this.nanos = nanos;
    // each connection is a client of its own: closing it really drops the socket (a pool would keep it)
    this.options = new RedisOptions(options).setMaxPoolSize(1).setMaxWaitingHandlers(MAX_IN_FLIGHT + 64);
    this.warmUp = warmUp;
    for (int i = 0; i < loops.size(); i++) {
      slots.add(new Slot(i, loops.get(i)));
    }
  }

  /**
   * Opens {@code connections} connections, each on an event loop of its own, and runs {@code warmUp}
   * on each (e.g. {@code SCRIPT LOAD}), again after each re-open, before it takes commands. Fails
   * when Redis cannot be reached now.
   *
   * <p>The connections' event loops are taken as Vert.x hands them to the instances of one
   * deployment (one after the other, round the pool), as it does for the proxy's servers: with as many
   * connections as event loops, a command sent from a server's loop goes out on that loop's own
   * connection and its answer comes back on the same thread, without a hop to another loop and back.
   *
   * @param nanos the sidecar's monotonic clock ({@code SidecarClock#nanos}), ns: what the watchdog
   *     measures silences and its own late ticks by (it ticks on a Vert.x timer every {@value #WATCH_MS} ms)
   */
  public static Future<RedisLink> open(Vertx vertx, RedisOptions options, int connections, LongSupplier nanos,
      Function<Function<Request, Future<Response>>, Future<Void>> warmUp) {
    List<Context> loops = new ArrayList<>();
    return vertx.deployVerticle(() -> new VerticleBase() {
      @Override
      public Future<?> start() {
        synchronized (loops) {
          loops.add(context);
        }
        return Future.succeededFuture();
      }
    }, new DeploymentOptions().setInstances(connections)).compose(deployment -> {
      RedisLink link = new RedisLink(vertx, options, loops, nanos, warmUp);
      link.deployment = deployment;
      List<Future<Void>> opened = new ArrayList<>();
      for (Slot slot : link.slots) {
        opened.add(slot.open());
      }
      // a failed open fails once the link is closed (its deployment undeployed), as close() completes
      return Future.all(opened).map(v -> {
        link.slots.forEach(Slot::watch);
        return link;
      }).recover(e -> link.close().transform(closed -> Future.<RedisLink>failedFuture(e)));
    });
  }

  /** Who is told when Redis becomes unavailable and available again. */
  public void listen(Listener listener) {
    this.listener = listener;
  }

  /** Whether Redis counts as available (see the class comment for the rule). */
  public boolean available() {
    return available;
  }

  /** Commands sent and not yet answered, across connections. */
  public int inFlight() {
    return inFlight.get();
  }

  /**
   * Sends one command on the next open connection, or queues it while none is open or too many are
   * in flight; answers on the caller's context. Fails at once while Redis is unavailable.
   */
  public Future<Response> send(Request request) {
    Context caller = Vertx.currentContext();
    if (queue.isEmpty()) { // nothing waits before it: straight onto a connection if there is room
      if (inFlight.incrementAndGet() <= MAX_IN_FLIGHT) {
        Slot slot = pick();
        if (slot != null) {
          return slot.send(request, caller).andThen(done -> released());
        }
      }
      inFlight.decrementAndGet();
    }
    if (!available) {
      return Future.failedFuture(new RedisUnavailableException("Redis is unavailable"));
    }
    if (queued.incrementAndGet() > MAX_QUEUED) {
      queued.decrementAndGet();
      return Future.failedFuture(new RedisBusyException());
    }
    Promise<Response> promise = Promise.promise();
    queue.add(new Queued(request, promise, caller));
    drain();
    return promise.future();
  }

  private void released() {
    inFlight.decrementAndGet();
    if (!queue.isEmpty()) {
      drain();
    }
  }

  /**
   * Sends queued commands while a connection is open and there is room in flight. One thread drains
   * at a time, in a loop (never recursively); whoever finds the queue non-empty after a drain ends
   * drains again, so no wake-up is lost.
   */
  private void drain() {
    while (!queue.isEmpty() && draining.compareAndSet(false, true)) {
      try {
        while (!queue.isEmpty()) {
          Slot slot = pick();
          if (slot == null) {
            break;
          }
          if (inFlight.incrementAndGet() > MAX_IN_FLIGHT) {
            inFlight.decrementAndGet();
            break;
          }
          Queued waiting = queue.poll();
          if (waiting == null) {
            inFlight.decrementAndGet();
            break;
          }
          queued.decrementAndGet();
          slot.send(waiting.request(), waiting.caller()).onComplete(result -> {
            waiting.promise().handle(result);
            released();
          });
        }
      } finally {
        draining.set(false);
      }
      // a connection that opened, or an answer that freed room, while this thread held the drain found
      // it taken and left: look again before leaving
      if (pick() == null || inFlight.get() >= MAX_IN_FLIGHT) {
        return;
      }
    }
  }

  /** Redis became unavailable: queued commands are refused (none was sent). */
  private void refuseQueued(String evidence) {
    Queued waiting;
    while ((waiting = queue.poll()) != null) {
      queued.decrementAndGet();
      Queued refused = waiting;
      Runnable fail = () -> refused.promise().fail(new RedisUnavailableException(evidence));
      if (refused.caller() == null) {
        fail.run();
      } else {
        refused.caller().runOnContext(v -> fail.run());
      }
    }
  }

  private Slot pick() {
    int size = slots.size();
    for (int i = 0; i < size; i++) { // the caller's own loop's connection first: no hop to another loop
      Slot slot = slots.get(i);
      if (slot.onItsLoop() && slot.connection != null) {
        return slot;
      }
    }
    int start = Math.floorMod(next.getAndIncrement(), size);
    for (int i = 0; i < size; i++) {
      Slot slot = slots.get((start + i) % size);
      if (slot.connection != null) {
        return slot;
      }
    }
    return null;
  }

  private void judge(String evidence) {
    Listener told = listener;
    boolean becameUnavailable = false;
    boolean becameAvailable = false;
    synchronized (this) {
      if (closed) {
        return;
      }
      if (evidence != null && available) {
        available = false;
        slots.forEach(slot -> slot.suspect = true);
        becameUnavailable = true;
      } else if (evidence == null && !available && slots.stream().allMatch(Slot::answeredSinceOutage)) {
        available = true;
        becameAvailable = true;
      }
    }
    if (becameUnavailable) {
      LOG.log(System.Logger.Level.DEBUG, "Redis unavailable: " + evidence);
      refuseQueued(evidence);
      told.unavailable(evidence);
    } else if (becameAvailable) {
      told.available();
      drain();
    }
  }

  /**
   * Closes every connection and refuses what waits; completes once the deployment that gave the
   * connections their event loops is undeployed (after the connections' own close, queued before it
   * on the same loops). Whoever closes Vert.x next waits for it: Vert.x would otherwise find that
   * deployment half undeployed, and log its undeploy as failed.
   */
  public Future<Void> close() {
    closed = true;
    for (Slot slot : slots) {
      slot.close();
    }
    refuseQueued("closed");
    String loops = deployment;
    return loops == null ? Future.succeededFuture() : vertx.undeploy(loops);
  }

  private record Queued(Request request, Promise<Response> promise, Context caller) {}

  /** One long-lived connection, bound to one event loop (its context), through a client of its own. */
  private final class Slot {
    private final int index;
    private final Context context;
    private Redis client;
    private volatile RedisConnection connection;
    /** Commands on this connection without an answer yet (changed on the slot's context only). */
    private int waiting;
    /** Last answer, or the moment commands started waiting on an idle connection ({@link #nanos}). */
    private volatile long progressNanos;
    private long lastTickNanos;
    private long lastAttemptNanos;
    private boolean connecting;
    private boolean pinging;
    /** Set when Redis became unavailable; cleared by an answer on a connection opened or pinged since. */
    private volatile boolean suspect;
    private long timer = -1;
    /** The event loop thread of {@link #context}, once it has run there. */
    private volatile Thread thread;

    Slot(int index, Context context) {
      this.index = index;
      this.context = context;
      this.progressNanos = nanos.getAsLong();
    }

    Future<Void> open() {
      Promise<Void> opened = Promise.promise();
      context.runOnContext(v -> {
        thread = Thread.currentThread();
        connect(OPEN_TIMEOUT_MS).onComplete(opened);
      });
      return opened.future();
    }

    /** On the slot's context: a new client and connection, warmed up, then it takes commands. */
    private Future<Void> connect(long timeoutMs) {
      connecting = true;
      lastAttemptNanos = nanos.getAsLong();
      Redis fresh = Redis.createClient(vertx, options);
      return fresh.connect().compose(conn -> {
        conn.exceptionHandler(e -> lost(conn, e.toString()));
        conn.endHandler(v -> lost(conn, "connection closed"));
        return warmUp.apply(conn::send).map(v -> conn);
      }).timeout(timeoutMs, TimeUnit.MILLISECONDS).andThen(done -> connecting = false).compose(conn -> {
        if (closed) {
          fresh.close();
          return Future.failedFuture(new RedisUnavailableException("closed"));
        }
        Redis old = client;
        client = fresh;
        if (old != null) {
          old.close();
        }
        connection = conn;
        waiting = 0;
        pinging = false;
        suspect = false; // it answered the warm-up
        progressNanos = nanos.getAsLong();
        drain();
        return Future.<Void>succeededFuture();
      }, e -> {
        fresh.close();
        return Future.failedFuture(e);
      });
    }

    /**
     * Sends on the slot's own event loop, so that answers are counted there (before its stall timer
     * runs), and hands the answer back on {@code caller}'s context.
     */
    Future<Response> send(Request request, Context caller) {
      if (caller != null && caller == Vertx.currentContext() && onItsLoop()) {
        // the caller runs now, on the connection's thread: its state is never touched by two threads
        // at once, and the answer's callbacks run on the caller's context, on this thread. A command
        // sent for another caller (one that waited in the queue) goes round by the hops below
        return sendHere(request);
      }
      Promise<Response> answer = Promise.promise();
      context.runOnContext(v -> sendHere(request).onComplete(result -> {
        if (caller == null) {
          answer.handle(result);
        } else {
          caller.runOnContext(x -> answer.handle(result));
        }
      }));
      return answer.future();
    }

    /** Whether the caller runs on this slot's event loop thread (then it may use the connection as is). */
    boolean onItsLoop() {
      return thread == Thread.currentThread();
    }

    private Future<Response> sendHere(Request request) {
      RedisConnection conn = connection;
      if (conn == null) {
        return Future.failedFuture(new RedisUnavailableException("connection " + index + " is closed"));
      }
      if (waiting++ == 0) {
        progressNanos = nanos.getAsLong();
      }
      return conn.send(request).andThen(done -> {
        if (connection == conn) { // answers failed by a dropped connection were forgotten with it
          progressNanos = nanos.getAsLong();
          waiting--;
        }
      });
    }

    /** The connection closed or failed by itself: re-open at once. */
    private void lost(RedisConnection conn, String cause) {
      context.runOnContext(v -> {
        if (connection == conn && !closed) {
          drop(cause);
        }
      });
    }

    /** On the slot's context: forgets the connection, closes its socket, and opens a new one. */
    private void drop(String cause) {
      connection = null;
      waiting = 0;
      pinging = false;
      if (client != null) {
        client.close(); // fails whatever was still waiting on it
        client = null;
      }
      reconnect(cause);
    }

    private void reconnect(String cause) {
      if (connecting || closed) {
        return;
      }
      connect(CONNECT_TIMEOUT_MS).onSuccess(v -> judge(null)).onFailure(e -> judge("connection lost (" + cause
          + ") and not re-opened: " + e.getMessage()));
    }

    void watch() {
      lastTickNanos = nanos.getAsLong();
      context.runOnContext(v -> timer = vertx.setPeriodic(WATCH_MS, t -> tick()));
    }

    /** Every {@link #WATCH_MS} on the slot's own event loop (after it has read any answers). */
    private void tick() {
      long now = nanos.getAsLong();
      boolean late = now - lastTickNanos > (WATCH_MS + STALL_MS / 2) * 1_000_000;
      lastTickNanos = now;
      if (closed || late) {
        return;
      }
      boolean stalled = connection != null && waiting > 0 && now - progressNanos > STALL_MS * 1_000_000;
      if (available) {
        if (stalled) {
          judge("no answer for " + STALL_MS + " ms with " + waiting + " commands waiting");
        }
        return;
      }
      probe(now, stalled && now - progressNanos > REPLACE_SILENT_MS * 1_000_000);
    }

    /** While Redis is unavailable: replace a silent connection, re-open a closed one, ping an open one. */
    private void probe(long now, boolean silent) {
      if (connection == null) {
        if (!connecting && now - lastAttemptNanos >= PROBE_MS * 1_000_000) {
          reconnect("still unavailable");
        }
        return;
      }
      if (silent) {
        drop("no answer for " + REPLACE_SILENT_MS + " ms");
        return;
      }
      if (!suspect || pinging) {
        return;
      }
      pinging = true;
      RedisConnection pinged = connection;
      sendHere(Request.cmd(Command.PING)).onComplete(pong -> {
        if (connection != pinged) {
          return;
        }
        pinging = false;
        if (pong.succeeded()) {
          suspect = false;
          judge(null);
        }
      });
    }

    boolean answeredSinceOutage() {
      return connection != null && !suspect;
    }

    void close() {
      context.runOnContext(v -> {
        if (timer >= 0) {
          vertx.cancelTimer(timer);
        }
        connection = null;
        if (client != null) {
          client.close();
          client = null;
        }
      });
    }
  }

  /** Redis is unavailable by the rule above, or the link is closed. */
  public static final class RedisUnavailableException extends RuntimeException {
    public RedisUnavailableException(String message) {
      super(message, null, false, false);
    }
  }

  /** More commands in flight and queued than the link takes: this one is refused, Redis is not judged. */
  public static final class RedisBusyException extends RuntimeException {
    RedisBusyException() {
      super("too many Redis commands in flight", null, false, false);
    }
  }
}
