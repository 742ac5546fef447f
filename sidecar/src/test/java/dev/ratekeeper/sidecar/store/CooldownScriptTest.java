package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.store.EmbeddedRedis.await;
import static dev.ratekeeper.sidecar.store.EmbeddedRedis.call;
import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.redis.client.Command;
import io.vertx.redis.client.Response;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * cooldown.lua on a real Redis: a cooldown ends when the scripts' clock passes the end it stored
 * (pinned, or Redis TIME plus an offset), not when Redis expires the key; a throttle after it ended
 * is a new strike and doubles the length, one while it runs only keeps it; a key written by an older
 * sidecar (value: the length) is read by its expiry.
 */
class CooldownScriptTest {
  private static final String COOLDOWN = "rk:{cool/p}:cooldown:anthropic~none";
  private static final List<String> KEYS = List.of(COOLDOWN, COOLDOWN + ":strikes", COOLDOWN + ":probe");
  private static final long T = 1_795_428_000_000L; // 2026-11-23T10:00:00Z
  private static final long STRIKE_MEMORY_MS = 600_000;
  @RegisterExtension
  static final ConnectedRedis REDIS = new ConnectedRedis();
  private final LuaScript script = LuaScript.standalone("cooldown");

  @BeforeEach
  void empty() {
    call(REDIS.connection(), Command.FLUSHALL);
  }

  /** {remaining ms, strikes} after {@code what} (1 throttle, 0 pause, r read) at {@code time}. */
  private List<Long> run(RedisTime time, String what, long baseMs) {
    Response reply = await(script.call(REDIS.connection()::send, KEYS, List.of(time.mode(), time.value(), what,
        Long.toString(baseMs), "60000", Long.toString(STRIKE_MEMORY_MS))));
    return List.of(reply.get(0).toLong(), reply.get(1).toLong());
  }

  private static RedisTime at(long ms) {
    return RedisTime.pinned(() -> ms);
  }

  private static long redisNowMs() {
    Response time = call(REDIS.connection(), Command.TIME);
    return time.get(0).toLong() * 1000 + time.get(1).toLong() / 1000;
  }

  @Test
  void onAPinnedClockACooldownEndsWhenTheClockPassesItsEndAndTheNextThrottleDoublesIt() {
    assertThat(run(at(T), "1", 300)).containsExactly(300L, 1L);
    assertThat(call(REDIS.connection(), Command.GET, COOLDOWN).toLong()).isEqualTo(T + 300);
    // Redis' own clock is not the scripts': the key is kept as long as the strikes
    assertThat(call(REDIS.connection(), Command.PTTL, COOLDOWN).toLong()).isBetween(STRIKE_MEMORY_MS - 1_000, STRIKE_MEMORY_MS);
    assertThat(run(at(T + 299), "r", 0)).containsExactly(1L, 1L);
    assertThat(run(at(T + 300), "r", 0)).containsExactly(0L, 1L);
    // ended: a throttle now is episode 2 in a row, twice as long
    assertThat(run(at(T + 300), "1", 300)).containsExactly(600L, 2L);
    // the rest of that storm only keeps it; a pause longer than what is left lengthens it, with no strike
    assertThat(run(at(T + 400), "1", 300)).containsExactly(500L, 2L);
    assertThat(run(at(T + 400), "0", 1_000)).containsExactly(1_000L, 2L);
    assertThat(run(at(T + 1_400), "r", 0)).containsExactly(0L, 2L);
  }

  @Test
  void onRedisTimeTheKeyExpiresAtTheEndAndAnOffsetMovesTheEnd() {
    long before = redisNowMs();
    List<Long> started = run(RedisTime.server(), "1", 2_000);
    long after = redisNowMs();
    assertThat(started).containsExactly(2_000L, 1L);
    assertThat(call(REDIS.connection(), Command.GET, COOLDOWN).toLong()).isBetween(before + 2_000, after + 2_000);
    assertThat(call(REDIS.connection(), Command.PTTL, COOLDOWN).toLong()).isBetween(1L, 2_000L);
    assertThat(run(RedisTime.server(), "r", 0).get(0)).isBetween(1L, 2_000L);
    // 2 s later by the offset (tests that shift Redis TIME) it has ended, the key's expiry notwithstanding
    assertThat(run(RedisTime.serverPlus(() -> 2_000), "r", 0)).containsExactly(0L, 1L);
    assertThat(run(RedisTime.serverPlus(() -> 2_000), "1", 2_000)).containsExactly(4_000L, 2L);
  }

  @Test
  void aCooldownAnOlderSidecarWroteIsReadByItsExpiry() {
    call(REDIS.connection(), Command.SET, COOLDOWN, "2000", "PX", "2000"); // value: the length, as sidecars wrote it before
    assertThat(run(RedisTime.server(), "r", 0).get(0)).isBetween(1_000L, 2_000L);
    // running: a throttle keeps it (no strike), as for any running cooldown
    assertThat(run(RedisTime.server(), "1", 300)).satisfies(reply -> {
      assertThat(reply.get(0)).isBetween(1_000L, 2_000L);
      assertThat(reply.get(1)).isZero();
    });
  }

  @Test
  void aProbeIsReleasedOnlyByTheTokenThatHoldsIt() {
    call(REDIS.connection(), Command.SET, COOLDOWN + ":probe", "sidecar-a:7", "PX", "30000");
    Response other = await(script.call(REDIS.connection()::send, KEYS, List.of("p", Long.toString(T), "x",
        "sidecar-b:3", "60000", Long.toString(STRIKE_MEMORY_MS))));
    assertThat(other.toLong()).as("another sidecar's probe is left alone").isZero();
    assertThat(call(REDIS.connection(), Command.GET, COOLDOWN + ":probe").toString()).isEqualTo("sidecar-a:7");
    Response own = await(script.call(REDIS.connection()::send, KEYS, List.of("p", Long.toString(T), "x",
        "sidecar-a:7", "60000", Long.toString(STRIKE_MEMORY_MS))));
    assertThat(own.toLong()).isEqualTo(1);
    assertThat(call(REDIS.connection(), Command.EXISTS, COOLDOWN + ":probe").toLong()).isZero();
    assertThat(call(REDIS.connection(), Command.EXISTS, COOLDOWN).toLong()).as("nothing else written").isZero();
    assertThat(call(REDIS.connection(), Command.EXISTS, COOLDOWN + ":strikes").toLong()).isZero();
  }
}
