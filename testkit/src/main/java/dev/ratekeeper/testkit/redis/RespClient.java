package dev.ratekeeper.testkit.redis;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.SSLContext;

/**
 * A small synchronous RESP2 client for the topology fixtures: the commands that build a cluster,
 * move a slot or ask a sentinel, on a plain or TLS socket. Replies: {@code String} (simple and bulk
 * strings), {@code Long}, {@code List<Object>}, {@code null}; an error reply is thrown as
 * {@link RedisError}.
 */
public final class RespClient implements AutoCloseable {
  /** How long a reply may take unless the caller says. */
  static final Duration READ_TIMEOUT = Duration.ofSeconds(10);
  private final Socket socket;
  private final InputStream in;
  private final OutputStream out;

  public RespClient(String host, int port) {
    this(host, port, null);
  }

  /** @param tls null for a plain socket */
  public RespClient(String host, int port, SSLContext tls) {
    this(host, port, tls, READ_TIMEOUT);
  }

  /** @param readTimeout how long a reply (or a TLS handshake) may take before the call fails */
  public RespClient(String host, int port, SSLContext tls, Duration readTimeout) {
    try {
      Socket plain = new Socket();
      plain.connect(new InetSocketAddress(host, port), 2_000);
      plain.setSoTimeout((int) readTimeout.toMillis());
      socket = tls == null ? plain : tls.getSocketFactory().createSocket(plain, host, port, true);
      in = new BufferedInputStream(socket.getInputStream());
      out = socket.getOutputStream();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot connect to Redis at " + host + ":" + port, e);
    }
  }

  /** Sends one command and reads its reply. */
  public Object call(Object... args) {
    try {
      ByteArrayOutputStream buf = new ByteArrayOutputStream();
      buf.write(("*" + args.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
      for (Object arg : args) {
        byte[] bytes = String.valueOf(arg).getBytes(StandardCharsets.UTF_8);
        buf.write(("$" + bytes.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
        buf.write(bytes);
        buf.write("\r\n".getBytes(StandardCharsets.US_ASCII));
      }
      out.write(buf.toByteArray());
      out.flush();
      return read();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** {@link #call} whose reply is text (or null). */
  public String text(Object... args) {
    Object reply = call(args);
    return reply == null ? null : String.valueOf(reply);
  }

  private Object read() throws IOException {
    int type = in.read();
    String line = line();
    return switch (type) {
      case '+' -> line;
      case '-' -> throw new RedisError(line);
      case ':' -> Long.parseLong(line);
      case '$' -> {
        int length = Integer.parseInt(line);
        if (length < 0) {
          yield null;
        }
        byte[] bytes = in.readNBytes(length + 2);
        yield new String(bytes, 0, length, StandardCharsets.UTF_8);
      }
      case '*' -> {
        int count = Integer.parseInt(line);
        if (count < 0) {
          yield null;
        }
        List<Object> items = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
          try {
            items.add(read());
          } catch (RedisError e) {
            items.add(e);
          }
        }
        yield items;
      }
      case -1 -> throw new IOException("connection closed");
      default -> throw new IOException("unexpected RESP type " + (char) type);
    };
  }

  private String line() throws IOException {
    StringBuilder sb = new StringBuilder();
    int c;
    while ((c = in.read()) != '\r') {
      if (c < 0) {
        throw new IOException("connection closed");
      }
      sb.append((char) c);
    }
    in.read(); // '\n'
    return sb.toString();
  }

  @Override
  public void close() {
    try {
      socket.close();
    } catch (IOException ignored) {
      // closing anyway
    }
  }

  /** An error reply. */
  public static final class RedisError extends RuntimeException {
    public RedisError(String message) {
      super(message);
    }
  }
}
