package dev.ratekeeper.operator;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.ConnectException;
import org.junit.jupiter.api.Test;

class OperatorMainTest {
  @Test
  void theDeepestMessageWins() {
    Exception e = new IllegalStateException("Redis at x failed", new IOException("wrapped", new ConnectException(
        "Connection refused")));

    assertThat(OperatorMain.rootMessage(e)).isEqualTo("Connection refused");
  }

  @Test
  void withoutMessagesBelowTheTopTheMostSpecificCauseIsNamed() {
    Exception e = new IllegalStateException("Operation: [list] failed.", new IOException((String) null, new ConnectException()));

    assertThat(OperatorMain.rootMessage(e)).isEqualTo("ConnectException");
    assertThat(OperatorMain.rootMessage(new IllegalStateException("plain"))).isEqualTo("plain");
    assertThat(OperatorMain.rootMessage(new IllegalStateException())).isEqualTo("IllegalStateException");
  }
}
