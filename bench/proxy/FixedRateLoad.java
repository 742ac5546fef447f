import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Fixed-rate (open-loop) latency for bench/proxy.sh: sends POST requests at exactly {@code --rate} per
 * second on a fixed schedule and records every latency, then sorts them for exact percentiles (no
 * histogram buckets). Several targets are measured in interleaved rounds (the order rotates every
 * round), so a burst of background load on a shared machine lands on all of them alike.
 *
 * <p>Latency is counted from the moment the schedule said the request should go (as wrk2 does), so a
 * request that waits for a free connection is charged for the wait; "service" latency, from the
 * actual write to the last byte of the response, is printed too. Plain blocking sockets with HTTP/1.1
 * keep-alive, one per worker thread; JDK only, run as a single-file program:
 *
 * <pre>
 *   java bench/proxy/FixedRateLoad.java --rate 1000 --rounds 3 --round-seconds 3 --warmup-seconds 2 \
 *        direct=http://127.0.0.1:9001/v1/messages sidecar=http://127.0.0.1:8787/anthropic/v1/messages
 * </pre>
 *
 * Each request names one of 1,000 users ({@code X-Ratekeeper-User: bench-<n>}), round robin.
 * Prints one {@code RESULT} line per target (microseconds).
 */
public final class FixedRateLoad {
  static final String BODY = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":64,"
      + "\"messages\":[{\"role\":\"user\",\"content\":\"Say hello in five words.\"}]}";
  static final int USERS = 1000;

  record Target(String name, String host, int port, byte[][] requests) {}

  /** One target's samples, merged over rounds. */
  static final class Samples {
    long[] latency = new long[1 << 16];
    long[] service = new long[1 << 16];
    int count;
    long errors;
    long measuredNanos;
    final Map<String, Long> errorKinds = new LinkedHashMap<>();

    synchronized void add(long latencyNanos, long serviceNanos) {
      if (count == latency.length) {
        latency = Arrays.copyOf(latency, count * 2);
        service = Arrays.copyOf(service, count * 2);
      }
      latency[count] = latencyNanos;
      service[count] = serviceNanos;
      count++;
    }

    synchronized void error(String kind) {
      errors++;
      errorKinds.merge(kind, 1L, Long::sum);
    }
  }

  public static void main(String[] args) throws Exception {
    int rate = 1000;
    int rounds = 3;
    double roundSeconds = 3;
    double warmupSeconds = 2;
    int connections = 8;
    List<Target> targets = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--rate" -> rate = Integer.parseInt(args[++i]);
        case "--rounds" -> rounds = Integer.parseInt(args[++i]);
        case "--round-seconds" -> roundSeconds = Double.parseDouble(args[++i]);
        case "--warmup-seconds" -> warmupSeconds = Double.parseDouble(args[++i]);
        case "--connections" -> connections = Integer.parseInt(args[++i]);
        default -> targets.add(target(args[i]));
      }
    }
    if (targets.isEmpty()) {
      System.err.println("usage: FixedRateLoad [--rate N] [--rounds N] [--round-seconds S] [--warmup-seconds S]"
          + " [--connections N] name=http://host:port/path ...");
      System.exit(2);
    }
    Map<String, Samples> results = new LinkedHashMap<>();
    for (Target t : targets) {
      results.put(t.name(), new Samples());
    }
    for (Target t : targets) {
      System.out.printf(Locale.ROOT, "  warm-up %-16s %d req/s for %.1f s%n", t.name(), rate, warmupSeconds);
      run(t, rate, warmupSeconds, connections, new Samples());
    }
    for (int r = 0; r < rounds; r++) {
      StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "  round %d/%d:", r + 1, rounds));
      for (int k = 0; k < targets.size(); k++) {
        Target t = targets.get((k + r) % targets.size());
        Samples s = results.get(t.name());
        Samples round = new Samples();
        long nanos = run(t, rate, roundSeconds, connections, round);
        merge(s, round, nanos);
        line.append(String.format(Locale.ROOT, "  %s p50 %d us", t.name(), pct(round.latency, round.count, 50) / 1000));
      }
      System.out.println(line);
    }
    for (Map.Entry<String, Samples> e : results.entrySet()) {
      Samples s = e.getValue();
      long[] lat = Arrays.copyOf(s.latency, s.count);
      long[] svc = Arrays.copyOf(s.service, s.count);
      Arrays.sort(lat);
      Arrays.sort(svc);
      System.out.printf(Locale.ROOT, "RESULT name=%s n=%d achieved_rps=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d"
              + " max_us=%d svc_p50_us=%d svc_p99_us=%d errors=%d%s%n",
          e.getKey(), s.count, s.count / (s.measuredNanos / 1e9), sorted(lat, 50) / 1000, sorted(lat, 90) / 1000,
          sorted(lat, 99) / 1000, sorted(lat, 99.9) / 1000, lat.length == 0 ? 0 : lat[lat.length - 1] / 1000,
          sorted(svc, 50) / 1000, sorted(svc, 99) / 1000, s.errors,
          s.errorKinds.isEmpty() ? "" : " error_kinds=" + s.errorKinds.toString().replace(' ', '_'));
    }
  }

  static void merge(Samples into, Samples round, long nanos) {
    for (int i = 0; i < round.count; i++) {
      into.add(round.latency[i], round.service[i]);
    }
    round.errorKinds.forEach((k, v) -> into.errorKinds.merge(k, v, Long::sum));
    into.errors += round.errors;
    into.measuredNanos += nanos;
  }

  static long pct(long[] values, int count, double p) {
    long[] copy = Arrays.copyOf(values, count);
    Arrays.sort(copy);
    return sorted(copy, p);
  }

  /** The nearest-rank percentile of sorted values. */
  static long sorted(long[] values, double p) {
    if (values.length == 0) {
      return 0;
    }
    int rank = (int) Math.ceil(p / 100.0 * values.length);
    return values[Math.max(0, Math.min(values.length - 1, rank - 1))];
  }

  /** Sends {@code rate × seconds} requests on schedule; returns the wall time the run took. */
  static long run(Target t, int rate, double seconds, int connections, Samples samples) throws Exception {
    long total = Math.round(rate * seconds);
    long period = 1_000_000_000L / rate;
    AtomicLong next = new AtomicLong();
    AtomicInteger userSeq = new AtomicInteger();
    long start = System.nanoTime() + 5_000_000;
    List<Thread> workers = new ArrayList<>();
    for (int w = 0; w < connections; w++) {
      Thread worker = new Thread(() -> {
        Connection conn = null;
        try {
          while (true) {
            long i = next.getAndIncrement();
            if (i >= total) {
              return;
            }
            long intended = start + i * period;
            long wait;
            while ((wait = intended - System.nanoTime()) > 0) {
              LockSupport.parkNanos(wait);
            }
            byte[] request = t.requests()[Math.floorMod(userSeq.getAndIncrement(), USERS)];
            long sent = System.nanoTime();
            int status;
            try {
              if (conn == null) {
                conn = new Connection(t.host(), t.port());
              }
              status = conn.exchange(request);
            } catch (IOException e) {
              samples.error(e.getClass().getSimpleName());
              if (conn != null) {
                conn.close();
              }
              conn = null;
              continue;
            }
            long done = System.nanoTime();
            if (conn.closing) {
              conn.close();
              conn = null;
            }
            if (status != 200) {
              samples.error("status_" + status);
            } else {
              samples.add(done - intended, done - sent);
            }
          }
        } finally {
          if (conn != null) {
            conn.close();
          }
        }
      }, "load-" + w);
      worker.setDaemon(true);
      workers.add(worker);
      worker.start();
    }
    for (Thread worker : workers) {
      worker.join(TimeUnit.SECONDS.toMillis((long) seconds + 60));
    }
    return System.nanoTime() - start;
  }

  static Target target(String spec) {
    int eq = spec.indexOf('=');
    if (eq <= 0) {
      throw new IllegalArgumentException("expected name=http://host:port/path, got " + spec);
    }
    URI uri = URI.create(spec.substring(eq + 1));
    byte[] body = BODY.getBytes(StandardCharsets.UTF_8);
    byte[][] requests = new byte[USERS][];
    for (int u = 0; u < USERS; u++) {
      String head = "POST " + uri.getRawPath() + " HTTP/1.1\r\n"
          + "Host: " + uri.getHost() + ":" + uri.getPort() + "\r\n"
          + "Content-Type: application/json\r\n"
          + "X-Ratekeeper-User: bench-" + u + "\r\n"
          + "Content-Length: " + body.length + "\r\n\r\n";
      byte[] h = head.getBytes(StandardCharsets.US_ASCII);
      byte[] all = Arrays.copyOf(h, h.length + body.length);
      System.arraycopy(body, 0, all, h.length, body.length);
      requests[u] = all;
    }
    return new Target(spec.substring(0, eq), uri.getHost(), uri.getPort(), requests);
  }

  /** One keep-alive HTTP/1.1 connection; reads whole responses (content-length or chunked). */
  static final class Connection {
    private final Socket socket;
    private final OutputStream out;
    private final InputStream in;
    /** The server said {@code connection: close}: open a new connection for the next request. */
    boolean closing;

    Connection(String host, int port) throws IOException {
      socket = new Socket();
      socket.setTcpNoDelay(true);
      socket.connect(new InetSocketAddress(host, port), 5_000);
      socket.setSoTimeout(30_000);
      out = socket.getOutputStream();
      in = new BufferedInputStream(socket.getInputStream(), 16_384);
    }

    int exchange(byte[] request) throws IOException {
      out.write(request);
      out.flush();
      String statusLine = line();
      int sp = statusLine.indexOf(' ');
      if (sp < 0) {
        throw new IOException("bad status line: " + statusLine);
      }
      int status = Integer.parseInt(statusLine.substring(sp + 1, sp + 4));
      long length = -1;
      boolean chunked = false;
      boolean close = false;
      String header;
      while (!(header = line()).isEmpty()) {
        int colon = header.indexOf(':');
        if (colon <= 0) {
          continue;
        }
        String name = header.substring(0, colon).trim().toLowerCase(Locale.ROOT);
        String value = header.substring(colon + 1).trim();
        switch (name) {
          case "content-length" -> length = Long.parseLong(value);
          case "transfer-encoding" -> chunked = value.toLowerCase(Locale.ROOT).contains("chunked");
          case "connection" -> close = value.equalsIgnoreCase("close");
          default -> { }
        }
      }
      if (chunked) {
        while (true) {
          String size = line();
          int semi = size.indexOf(';');
          long n = Long.parseLong((semi >= 0 ? size.substring(0, semi) : size).trim(), 16);
          if (n == 0) {
            while (!line().isEmpty()) {
              // trailers
            }
            break;
          }
          skip(n);
          line();
        }
      } else if (length >= 0) {
        skip(length);
      } else {
        throw new IOException("response without length");
      }
      closing = close;
      return status;
    }

    private void skip(long n) throws IOException {
      while (n > 0) {
        long skipped = in.skip(n);
        if (skipped <= 0) {
          if (in.read() < 0) {
            throw new IOException("eof in body");
          }
          skipped = 1;
        }
        n -= skipped;
      }
    }

    private String line() throws IOException {
      StringBuilder sb = new StringBuilder(64);
      int c;
      while ((c = in.read()) >= 0) {
        if (c == '\n') {
          int len = sb.length();
          return len > 0 && sb.charAt(len - 1) == '\r' ? sb.substring(0, len - 1) : sb.toString();
        }
        sb.append((char) c);
      }
      throw new IOException("eof");
    }

    void close() {
      try {
        socket.close();
      } catch (IOException ignored) {
        // closing anyway
      }
    }
  }
}
