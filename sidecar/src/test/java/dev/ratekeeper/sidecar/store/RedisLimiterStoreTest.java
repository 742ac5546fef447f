package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.store.EmbeddedRedis.await;

import static dev.ratekeeper.sidecar.limiter.TestPolicy.perMinute;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.policy;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.tier;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.limiter.LimiterStore;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.limiter.ReconcileResult;
import io.vertx.redis.client.Command;
import java.util.Map;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The behaviour suite against a real redis-server through admit.lua / reconcile.lua, on a pinned
 * script clock ({@link RedisTime#pinned}) so waits can be asserted to the millisecond.
 */
class RedisLimiterStoreTest extends LimiterStoreContract {
  @RegisterExtension
  static final ConnectedRedis REDIS = new ConnectedRedis();

  @Override
  protected LimiterStore newStore(LimiterOptions options, LongSupplier clockMs) {
    EmbeddedRedis.call(REDIS.connection(), Command.FLUSHALL);
    RedisLimiterStore store = RedisLimiterStore.create(REDIS.connection(), options, RedisTime.pinned(clockMs));
    await(store.loadScripts());
    return store;
  }

  /** Counted by redis-server itself (INFO commandstats): the reconcile that changes nothing but its record runs no script. */
  @Test
  void aReconcileThatChangesNothingButTheRecordSendsOneSetAndNoScript() {
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(10, 10))).build();
    AdmitRequest quiet = metered(p, "alice", 0, 0);
    admit(quiet);
    EmbeddedRedis.call(REDIS.connection(), Command.CONFIG, "RESETSTAT");
    assertThat(reconcile(new ReconcileRequest(quiet, 0, 0)).outcome()).isEqualTo(ReconcileResult.Outcome.RECONCILED);
    assertThat(calls("evalsha")).isZero();
    assertThat(calls("set")).isEqualTo(1);
    assertThat(EmbeddedRedis.call(REDIS.connection(), Command.PTTL, P + "r:" + quiet.requestId()).toLong())
        .isBetween(1L, LimiterOptions.DEFAULTS.reconciledTtlMs());

    // used tokens: the script runs, once
    AdmitRequest used = metered(p, "bob", 0, 0);
    admit(used);
    EmbeddedRedis.call(REDIS.connection(), Command.CONFIG, "RESETSTAT");
    assertThat(reconcile(new ReconcileRequest(used, 120, 0)).outcome()).isEqualTo(ReconcileResult.Outcome.RECONCILED);
    assertThat(calls("evalsha")).isEqualTo(1);

    // a concurrency lease to release: the script runs although nothing was reserved or used
    CompiledPolicy leased = policy().tier(tier("free").requests(perMinute(10, 10)).concurrency(2)).build();
    AdmitRequest holding = metered(leased, "carol", 0, 0);
    admit(holding);
    EmbeddedRedis.call(REDIS.connection(), Command.CONFIG, "RESETSTAT");
    reconcile(ReconcileRequest.release(holding));
    assertThat(calls("evalsha")).isEqualTo(1);
  }

  /** {@code calls} of {@code cmdstat_<command>} in INFO commandstats (0 when not run since the last reset). */
  private static long calls(String command) {
    String info = EmbeddedRedis.call(REDIS.connection(), Command.INFO, "commandstats").toString();
    for (String line : info.split("\r?\n")) {
      if (line.startsWith("cmdstat_" + command + ":")) {
        String field = line.substring(line.indexOf("calls=") + "calls=".length());
        return Long.parseLong(field.substring(0, field.indexOf(',')));
      }
    }
    return 0;
  }

  @Override
  protected Map<String, String> snapshot() {
    return EmbeddedRedis.snapshot(REDIS.connection(), P);
  }
}
