package dev.ratekeeper.sidecar.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.UpstreamFormat;
import dev.ratekeeper.policy.compile.CompiledIdentity;
import io.vertx.core.MultiMap;
import org.junit.jupiter.api.Test;

/** The policy's identity headers never go upstream, whatever their case, under each revision's own names. */
class IdentityHeadersTest {
  private static MultiMap clientHeaders() {
    return MultiMap.caseInsensitiveMultiMap().add("x-end-user", "alice").add("X-Team-Tier", "gold")
        .add("X-Caller-Key", "secret").add("x-agent-run", "r1").add("X-Other", "kept");
  }

  @Test
  void eachRevisionStripsItsOwnIdentityHeaders() {
    CompiledIdentity first = new CompiledIdentity("X-End-User", "X-Team-Tier", false, "X-Caller-Key", null);
    CompiledIdentity second = new CompiledIdentity("X-Other", "X-Team-Tier", false, "X-Caller-Key", null);

    for (int round = 0; round < 2; round++) { // revisions alternating, as requests of two revisions finishing together
      MultiMap underFirst = Headers.upstreamRequest(clientHeaders(), first, UpstreamFormat.ANTHROPIC, null, true);
      assertThat(underFirst.names()).containsExactlyInAnyOrder("x-agent-run", "X-Other");
      MultiMap underSecond = Headers.upstreamRequest(clientHeaders(), second, UpstreamFormat.ANTHROPIC, null, true);
      assertThat(underSecond.names()).containsExactlyInAnyOrder("x-end-user", "x-agent-run");
    }
  }
}
