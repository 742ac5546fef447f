package dev.ratekeeper.policy.keys;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.compile.PolicyId;
import org.junit.jupiter.api.Test;

class RedisKeysTest {
  private final RedisKeys keys = new RedisKeys(new PolicyId("team-a", "agents"));

  @Test
  void everyKeyCarriesThePolicyHashTag() {
    assertThat(keys.prefix()).isEqualTo("rk:{team-a/agents}:");
    assertThat(keys.user("alice", "req")).isEqualTo("rk:{team-a/agents}:u:alice:req");
    assertThat(keys.global("req")).startsWith("rk:{team-a/agents}:");
    assertThat(keys.revision("abc")).isEqualTo("rk:{team-a/agents}:policy:rev:abc");
  }

  @Test
  void userIdsCannotForgeAnotherKey() {
    assertThat(keys.user("alice:req", "x")).isNotEqualTo(keys.user("alice", "req:x"));
    assertThat(keys.user("a}b{c", "req")).isEqualTo("rk:{team-a/agents}:u:a%7Db%7Bc:req");
  }
}
