package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.sidecar.wire.AnswerUsage;
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
final class ResponseTail implements AnswerUsage {
  static final int WHOLE_LIMIT = 1 << 20;
  static final int TAIL = 64 * 1024;

  private final Endpoint endpoint;
  private Buffer kept = Buffer.buffer();
  private boolean truncated;
  /** The usage read from what was kept, once (null: not read since the last chunk). */
  private Optional<Usage> usage;

  ResponseTail(Endpoint endpoint) {
    this.endpoint = endpoint;
  }

  void add(Buffer chunk) {
    usage = null;
    kept.appendBuffer(chunk);
    if (kept.length() > WHOLE_LIMIT + TAIL) {
      kept = kept.getBuffer(kept.length() - TAIL, kept.length());
      truncated = true;
    }
  }

  Optional<Usage> usage() {
    if (usage == null) {
      byte[] bytes = kept.getBytes();
      Optional<Usage> whole = truncated ? Optional.empty() : UsageReader.fromJson(endpoint, bytes);
      usage = whole.isPresent() ? whole : UsageReader.fromJsonTail(endpoint, bytes);
    }
    return usage;
  }

  @Override
  public boolean reported() {
    return usage().isPresent();
  }

  /** A JSON answer cut short said nothing yet: its input estimate, no output. */
  @Override
  public Usage soFar(long inputEstimate) {
    return new Usage(inputEstimate, 0, 0, 0);
  }

  @Override
  public Usage atEnd(long inputEstimate, long outputCap) {
    return usage().orElse(null);
  }
}
