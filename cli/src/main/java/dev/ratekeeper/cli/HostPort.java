package dev.ratekeeper.cli;

import java.net.InetSocketAddress;
import java.util.Optional;

/**
 * An address to listen on, written {@code HOST:PORT} ({@code [::1]:8080} for IPv6). The port is
 * 0 to 65535; 0 asks the system for a free port (tests do).
 */
public record HostPort(String host, int port) {
  /** Parses {@code HOST:PORT}; empty when it is not one. */
  public static Optional<HostPort> parse(String text) {
    if (text == null) {
      return Optional.empty();
    }
    String t = text.strip();
    int colon = t.lastIndexOf(':');
    if (colon <= 0 || colon == t.length() - 1 || t.length() - colon > 6) {
      return Optional.empty();
    }
    String digits = t.substring(colon + 1);
    if (!digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
      return Optional.empty();
    }
    int port = Integer.parseInt(digits);
    String host = t.substring(0, colon);
    if (port > 65535 || host.isBlank() || host.chars().anyMatch(Character::isWhitespace)) {
      return Optional.empty();
    }
    return Optional.of(new HostPort(host, port));
  }

  /** An unresolved-until-bound socket address, the way servers take it. */
  public InetSocketAddress toSocketAddress() {
    return new InetSocketAddress(host, port);
  }

  @Override
  public String toString() {
    return host + ":" + port;
  }
}
