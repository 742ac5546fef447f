package dev.ratekeeper.sidecar.store;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * How the sidecar's limiter talks to Redis: a small fixed set of long-lived connections, each
 * pipelined (many commands in flight, answered in order), opened and warmed (scripts loaded) before
 * the sidecar is ready, reconnected in the background. No pool that grows under a burst: a burst is
 * more commands in flight on the same connections, up to {@link #MAX_IN_FLIGHT}; beyond that a
 * command waits in a bounded queue for an answer to free a place (back-pressure), and only past that
 * queue is it refused.
 *
 * <p><b>When Redis counts as unavailable</b> (the evidence rule, docs/reliability.md):
 * <ul>
 *   <li>a connection is lost and the reconnect right after it fails (refused, reset, timed out); or</li>
 *   <li>a connection has had commands waiting for {@link #STALL_MS} with no answer at all in that
 *       time (Redis stopped, paused, or the network dropped without a reset).</li>
 * </ul>
 * A single slow answer is not evidence: while answers keep coming, Redis is up, however late one of
 * them is. The stall is judged by a timer on the connection's own event loop, after that loop has
 * read whatever answers arrived, and not at all in a tick that fired late (this process was paused:
 * GC, a starved CPU), so the sidecar's own pauses never look like Redis'. Redis counts as available
 * again once every connection is open and has answered a {@code PING} sent after the outage began.
 *
 * <p>Threading: {@link #send} may be called from any thread; each connection's state is changed only
 * on its own context; the listener is called on a connection's context.
 */
public final class RedisLink {
  private static final System.Logger LOG = System.getLogger(RedisLink.class.getName());
  /** Connections kept open (one per event loop of a 2-core pod; measured in docs/benchmarks.md). */
  public static final int CONNECTIONS = 2;
  /** Commands in flight across all connections before new ones queue. */
  static final int MAX_IN_FLIGHT = 4_096;
  /** Commands that may wait for a place in flight before one is refused. */
  static final int MAX_QUEUED = 16_384;
  /** No answer for this long with commands waiting: Redis is unavailable. */
  public static final long STALL_MS = 500;
  /** How often each connection's stall is judged. */
  static final long WATCH_MS = 100;
  /** While unavailable: how often a lost connection is re-opened and an open one pinged. */
  public static final long PROBE_MS = 200;

  /** Told when Redis becomes unavailable and available again; called once per change. */
  public interface Listener {
    void unavailable(String evidence);

    void available();
  }

  private final Vertx vertx;
  private final Redis client;
  private volatile Listener listener = new Listener() {
    @Override
    public void unavailable(String evidence) {}

    @Override
    public void available() {}
  };
  private final Function<Function<Request, Future<Response>>, Future<Void>> warmUp;
  private final List<Slot> slots = new ArrayList<>();
  private final AtomicInteger next = new AtomicInteger();
  private final AtomicInteger inFlight = new AtomicInteger();
  private final java.util.concurrent.ConcurrentLinkedQueue<Queued> queue = new java.util.concurrent.ConcurrentLinkedQueue<>();
  private final AtomicInteger queued = new AtomicInteger();
  private volatile boolean available = true;
  private volatile boolean closed;

  private RedisLink(Vertx vertx, RedisOptions options, int connections,
      Function<Function<Request, Future<Response>>, Future<Void>> warmUp) {
    this.vertx = vertx;
    this.client = Redis.createClient(vertx, new RedisOptions(options).setMaxPoolSize(connections + 1)
        .setMaxWaitingHandlers(MAX_IN_FLIGHT + 64));
    this.warmUp = warmUp;
    for (int i = 0; i < connections; i++) {
      slots.add(new Slot(i));
    }
  }

  /**
   * Opens {@code connections} connections, each on an event loop of its own, and runs {@code warmUp}
   * through the link once (e.g. {@code SCRIPT LOAD}) and again after each reconnect of a connection,
   * before that connection takes commands. Fails when Redis cannot be reached now.
   */
  public static Future<RedisLink> open(Vertx vertx, RedisOptions options, int connections,
      Function<Function<Request, Future<Response>>, Future<Void>> warmUp) {
    RedisLink link = new RedisLink(vertx, options, connections, warmUp);
    List<Future<Void>> opened = new ArrayList<>();
    for (Slot slot : link.slots) {
      opened.add(slot.open());
    }
    return Future.all(opened).map(v -> {
      link.slots.forEach(Slot::watch);
      return link;
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

  /** Sends one command on the next open connection; fails at once when none is open. */
  public Future<Response> send(Request request) {
    if (inFlight.incrementAndGet() <= MAX_IN_FLIGHT) {
      return dispatch(request);
    }
    inFlight.decrementAndGet();
    if (queued.incrementAndGet() > MAX_QUEUED) {
      queued.decrementAndGet();
      return Future.failedFuture(new RedisBusyException());
    }
    Promise<Response> promise = Promise.promise();
    queue.add(new Queued(request, promise));
    drain();
    return promise.future();
  }

  /** Sends queued commands while there is room in flight. */
  private void drain() {
    while (!queue.isEmpty()) {
      if (inFlight.incrementAndGet() > MAX_IN_FLIGHT) {
        inFlight.decrementAndGet();
        return;
      }
      Queued waiting = queue.poll();
      if (waiting == null) {
        inFlight.decrementAndGet();
        return;
      }
      queued.decrementAndGet();
      dispatch(waiting.request()).onComplete(waiting.promise());
    }
  }

  /** Called with one place in flight taken; gives it back when the answer (or failure) comes. */
  private Future<Response> dispatch(Request request) {
    Slot slot = pick();
    if (slot == null) {
      inFlight.decrementAndGet();
      drain();
      return Future.failedFuture(new RedisUnavailableException("no open connection to Redis"));
    }
    return slot.send(request).andThen(done -> {
      inFlight.decrementAndGet();
      if (!queue.isEmpty()) {
        drain();
      }
    });
  }

  private Slot pick() {
    int size = slots.size();
    int start = Math.floorMod(next.getAndIncrement(), size);
    for (int i = 0; i < size; i++) {
      Slot slot = slots.get((start + i) % size);
      if (slot.connection != null) {
        return slot;
      }
    }
    return null;
  }

  /** Commands sent and not yet answered, across connections. */
  public int inFlight() {
    return inFlight.get();
  }

  private synchronized void judge(String evidence) {
    if (closed) {
      return;
    }
    if (evidence != null) {
      if (available) {
        available = false;
        slots.forEach(slot -> slot.suspect = true);
        LOG.log(System.Logger.Level.DEBUG, "Redis unavailable: " + evidence);
        listener.unavailable(evidence);
      }
      return;
    }
    if (!available && slots.stream().allMatch(Slot::answeredSinceOutage)) {
      available = true;
      listener.available();
    }
  }

  public void close() {
    closed = true;
    for (Slot slot : slots) {
      slot.close();
    }
    client.close();
  }

  private record Queued(Request request, Promise<Response> promise) {}

  /** One long-lived connection, bound to one event loop (its context). */
  private final class Slot {
    private final int index;
    private final Context context;
    private volatile RedisConnection connection;
    /** Commands on this connection without an answer yet (changed on the slot's context only). */
    private int waiting;
    /** Last answer, or the moment commands started waiting on an idle connection (nanoTime). */
    private volatile long progressNanos = System.nanoTime();
    private long lastTickNanos;
    private boolean connecting;
    private boolean pinging;
    private long lastAttemptNanos;
    /** Set when Redis became unavailable; cleared by a PING answered on this connection. */
    private volatile boolean suspect;
    private long timer = -1;

    Slot(int index) {
      this.index = index;
      this.context = vertx.getOrCreateContext();
    }

    Future<Void> open() {
      Promise<Void> opened = Promise.promise();
      context.runOnContext(v -> connect().onComplete(opened));
      return opened.future();
    }

    /** On the slot's context: connects, warms up, then takes commands. */
    private Future<Void> connect() {
      connecting = true;
      return client.connect().compose(conn -> {
        conn.exceptionHandler(e -> lost(conn, e.toString()));
        conn.endHandler(v -> lost(conn, "connection closed"));
        return warmUp.apply(conn::send).map(v -> {
          connection = conn;
          waiting = 0;
          suspect = false; // it answered the warm-up
          progressNanos = System.nanoTime();
          return (Void) null;
        }).onFailure(e -> conn.close());
      }).andThen(done -> connecting = false);
    }

    /**
     * Sends on the slot's own event loop, so that answers are counted there (before its stall timer
     * runs), and hands the answer back on the caller's context.
     */
    Future<Response> send(Request request) {
      Context caller = Vertx.currentContext();
      if (caller == context) {
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

    private Future<Response> sendHere(Request request) {
      RedisConnection conn = connection;
      if (conn == null) {
        return Future.failedFuture(new RedisUnavailableException("connection " + index + " is closed"));
      }
      if (waiting++ == 0) {
        progressNanos = System.nanoTime();
      }
      return conn.send(request).andThen(done -> {
        if (connection == conn) { // answers failed by a lost connection were forgotten with it
          progressNanos = System.nanoTime();
          waiting--;
        }
      });
    }

    /** The connection closed or failed: open a new one at once; Redis is unavailable if that fails too. */
    private void lost(RedisConnection conn, String cause) {
      context.runOnContext(v -> {
        if (connection != conn || closed) {
          return;
        }
        connection = null;
        waiting = 0;
        pinging = false;
        reconnect(cause);
      });
    }

    private void reconnect(String cause) {
      if (connecting || closed) {
        return;
      }
      connect().onSuccess(v -> judge(null)).onFailure(e -> judge("connection lost (" + cause + ") and not re-opened: "
          + e.getMessage()));
    }

    void watch() {
      lastTickNanos = System.nanoTime();
      context.runOnContext(v -> timer = vertx.setPeriodic(WATCH_MS, t -> tick()));
    }

    /** Every {@link #WATCH_MS} on the slot's own event loop (after it has read any answers). */
    private void tick() {
      long now = System.nanoTime();
      boolean late = now - lastTickNanos > (WATCH_MS + STALL_MS / 2) * 1_000_000;
      lastTickNanos = now;
      if (closed) {
        return;
      }
      if (!available) {
        probe();
        return;
      }
      if (!late && connection != null && waiting > 0 && now - progressNanos > STALL_MS * 1_000_000) {
        judge("no answer for " + STALL_MS + " ms with " + waiting + " commands waiting");
      }
    }

    /** While Redis is unavailable: re-open the connection, or ping it; a PONG clears this connection. */
    private void probe() {
      long now = System.nanoTime();
      if (connection == null) {
        if (now - lastAttemptNanos >= PROBE_MS * 1_000_000) {
          lastAttemptNanos = now;
          reconnect("still unavailable");
        }
        return;
      }
      if (pinging || !suspect) {
        return;
      }
      pinging = true;
      sendHere(Request.cmd(Command.PING)).onComplete(pong -> {
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
      if (timer >= 0) {
        vertx.cancelTimer(timer);
      }
      RedisConnection conn = connection;
      connection = null;
      if (conn != null) {
        conn.close();
      }
    }
  }

  /** Redis is unavailable by the rule above, or no connection is open. */
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
