package dev.ratekeeper.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.function.IntSupplier;

/**
 * A free loopback port for a program that cannot listen on port 0 and tell which port it got (a
 * redis-server). The port is free when found, but another process may take it before the program
 * binds it: {@link #startOn} then starts the program again on a fresh port.
 */
public final class FreePort {
  /** Ports tried before giving up. */
  public static final int ATTEMPTS = 5;
  private static final String TAKEN = "Address already in use";

  /** Starts something listening on {@code port}; when the port was taken, the failure (or a cause) says so. */
  @FunctionalInterface
  public interface Start<T> {
    T on(int port) throws IOException;
  }

  private FreePort() {}

  /** A loopback port nothing listens on now. */
  public static int find() {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** What {@code start} started on a free port; on a fresh one while a start fails with "Address already in use". */
  public static <T> T startOn(Start<T> start) {
    return startOn(FreePort::find, start);
  }

  static <T> T startOn(IntSupplier ports, Start<T> start) {
    IOException taken = null;
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
      try {
        return start.on(ports.getAsInt());
      } catch (IOException e) {
        if (!saysTaken(e)) {
          throw new UncheckedIOException(e);
        }
        taken = e;
      }
    }
    throw new UncheckedIOException("the port was taken before the server bound it, " + ATTEMPTS + " times in a row",
        taken);
  }

  private static boolean saysTaken(Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause()) {
      if (t.getMessage() != null && t.getMessage().contains(TAKEN)) {
        return true;
      }
    }
    return false;
  }
}
