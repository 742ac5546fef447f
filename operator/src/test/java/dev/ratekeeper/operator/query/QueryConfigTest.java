package dev.ratekeeper.operator.query;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

class QueryConfigTest {
  @Test
  void offUnlessAnAddressIsSet() throws Exception {
    assertThat(QueryConfig.fromEnv(Map.of()).enabled()).isFalse();
    assertThat(QueryConfig.fromEnv(Map.of(QueryConfig.LISTEN_ENV, " ")).enabled()).isFalse();
    QueryConfig on = QueryConfig.fromEnv(Map.of(QueryConfig.LISTEN_ENV, "0.0.0.0:9444"));
    assertThat(on.enabled()).isTrue();
    assertThat(on.listen().getPort()).isEqualTo(9444);
    assertThat(QueryConfig.fromEnv(Map.of(QueryConfig.LISTEN_ENV, "[::]:9444")).listen().getPort()).isEqualTo(9444);
  }

  @Test
  void aMalformedAddressIsRefusedByName() {
    for (String bad : new String[] {"9444", "host:", "host:x", "host:70000"}) {
      assertThatThrownBy(() -> QueryConfig.fromEnv(Map.of(QueryConfig.LISTEN_ENV, bad)))
          .as(bad).isInstanceOf(dev.ratekeeper.cli.ConfigException.class)
          .satisfies(e -> assertThat(((dev.ratekeeper.cli.ConfigException) e).problems().toString())
              .contains("RATEKEEPER_QUERY_LISTEN"));
    }
  }
}
