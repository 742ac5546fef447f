package dev.ratekeeper.sidecar.proxy;

import io.vertx.core.buffer.Buffer;
import java.io.InputStream;
import java.util.Objects;

/**
 * A body already read whole, as a stream for the parser: bytes are copied from the {@link Buffer}
 * only as the reader asks for them, into the reader's own array, never into one of the body's size.
 * One reader, one thread at a time.
 */
final class BufferInput extends InputStream {
  private final Buffer buffer;
  private int position;

  BufferInput(Buffer buffer) {
    this.buffer = buffer;
  }

  @Override
  public int read() {
    return position < buffer.length() ? buffer.getByte(position++) & 0xff : -1;
  }

  @Override
  public int read(byte[] into, int offset, int length) {
    Objects.checkFromIndexSize(offset, length, into.length);
    if (length == 0) {
      return 0;
    }
    int left = buffer.length() - position;
    if (left <= 0) {
      return -1;
    }
    int n = Math.min(left, length);
    buffer.getBytes(position, position + n, into, offset);
    position += n;
    return n;
  }

  @Override
  public int available() {
    return buffer.length() - position;
  }
}
