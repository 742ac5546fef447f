package dev.ratekeeper.sidecar.proxy;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.sidecar.wire.Endpoint;
import dev.ratekeeper.sidecar.wire.RequestParser;
import io.vertx.core.buffer.Buffer;
import java.io.ByteArrayOutputStream;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The pipeline parses a body from its buffer through {@link BufferInput}, not from a copy of it: the
 * stream yields the buffer's bytes exactly, however it is read, and the parser reads a body from it
 * exactly as from the bytes themselves (the same request, the same refusal word for word).
 */
class BufferInputTest {
  @Test
  void theStreamYieldsTheBuffersBytesExactlyInAnyChunks() {
    byte[] bytes = new byte[70_001];
    for (int i = 0; i < bytes.length; i++) {
      bytes[i] = (byte) (i * 31 + 7);
    }
    Buffer buffer = Buffer.buffer(128).appendBytes(bytes); // grown past its first capacity, as bodies are
    for (int chunk : new int[] {1, 7, 8000, 70_001, 100_000}) {
      BufferInput in = new BufferInput(buffer);
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      byte[] into = new byte[chunk + 3];
      int n;
      while ((n = in.read(into, 3, chunk)) > 0) {
        out.write(into, 3, n);
      }
      assertThat(n).isEqualTo(-1);
      assertThat(out.toByteArray()).as("chunks of %d", chunk).isEqualTo(bytes);
    }
    BufferInput single = new BufferInput(buffer);
    for (byte expected : bytes) {
      assertThat(single.read()).isEqualTo(expected & 0xff);
    }
    assertThat(single.read()).isEqualTo(-1);
    assertThat(single.available()).isZero();
    assertThat(new BufferInput(buffer).read(new byte[4], 0, 0)).isZero();
  }

  @Test
  void theParserReadsABodyFromTheStreamAsFromItsBytes() {
    List<byte[]> bodies = List.of(
        "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hé\"}]}"
            .getBytes(UTF_8),
        ("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"" + "x".repeat(100_000)
            + "\"}]}").getBytes(UTF_8),
        "{not json".getBytes(UTF_8),
        "[1,2]".getBytes(UTF_8),
        "{\"model\":\"m\"} {\"model\":\"n\"}".getBytes(UTF_8),
        "{\"model\":\"m\",\"model\":\"n\"}".getBytes(UTF_8),
        "{\"model\":\"m\",\"max_tokens\":0}".getBytes(UTF_8),
        "[".repeat(200).getBytes(UTF_8),
        new byte[0],
        new byte[] {'{', '"', 'm', '"', ':', '"', (byte) 0xc3, 0x28, '"', '}'},
        new byte[] {(byte) 0xff});
    for (byte[] body : bodies) {
      RequestParser.Result fromBytes = RequestParser.parse(null, Endpoint.ANTHROPIC_MESSAGES, body);
      RequestParser.Result fromStream = RequestParser.parse(null, Endpoint.ANTHROPIC_MESSAGES,
          new BufferInput(Buffer.buffer(body)));
      String label = new String(body, 0, Math.min(body.length, 40), UTF_8);
      assertThat(fromStream.getClass()).as(label).isEqualTo(fromBytes.getClass());
      if (fromBytes instanceof RequestParser.Invalid invalid) {
        assertThat(((RequestParser.Invalid) fromStream).error().message()).as(label)
            .isEqualTo(invalid.error().message());
      } else {
        var a = ((RequestParser.Parsed) fromBytes).request();
        var b = ((RequestParser.Parsed) fromStream).request();
        assertThat(b.body()).as(label).isEqualTo(a.body());
        assertThat(b.model()).isEqualTo(a.model());
        assertThat(b.outputCap()).isEqualTo(a.outputCap());
      }
    }
  }
}
