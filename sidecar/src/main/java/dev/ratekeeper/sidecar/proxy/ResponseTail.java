package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.sidecar.wire.Endpoint;
import dev.ratekeeper.sidecar.wire.Usage;
import dev.ratekeeper.sidecar.wire.UsageReader;
import io.vertx.core.buffer.Buffer;
import java.util.Optional;

/**
 * A bounded copy of a JSON response as it streams past, to read its {@code usage} at the end. The
 * response itself is never held back. Small bodies are kept whole; past {@link #WHOLE_LIMIT} only
 * the last {@link #TAIL} bytes are kept, where providers put {@code usage}.
 */
final class ResponseTail {
  static final int WHOLE_LIMIT = 1 << 20;
  static final int TAIL = 64 * 1024;

  private final Endpoint endpoint;
  private Buffer kept = Buffer.buffer();
  private boolean truncated;

  ResponseTail(Endpoint endpoint) {
    this.endpoint = endpoint;
  }

  void add(Buffer chunk) {
    kept.appendBuffer(chunk);
    if (kept.length() > WHOLE_LIMIT + TAIL) {
      kept = kept.getBuffer(kept.length() - TAIL, kept.length());
      truncated = true;
    }
  }

  Optional<Usage> usage() {
    byte[] bytes = kept.getBytes();
    Optional<Usage> whole = truncated ? Optional.empty() : UsageReader.fromJson(endpoint, bytes);
    return whole.isPresent() ? whole : UsageReader.fromJsonTail(endpoint, bytes);
  }
}
