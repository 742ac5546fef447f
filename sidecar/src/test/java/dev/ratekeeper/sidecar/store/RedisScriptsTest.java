package dev.ratekeeper.sidecar.store;

import static dev.ratekeeper.sidecar.limiter.TestPolicy.budget;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.model;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.perMinute;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.policy;
import static dev.ratekeeper.sidecar.limiter.TestPolicy.tier;
import static dev.ratekeeper.sidecar.store.EmbeddedRedis.await;
import static dev.ratekeeper.sidecar.store.EmbeddedRedis.call;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.api.BudgetPeriod;
import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.policy.periods.CalendarPeriod;
import dev.ratekeeper.sidecar.limiter.AdmitRequest;
import dev.ratekeeper.sidecar.limiter.AdmitScriptCall;
import dev.ratekeeper.sidecar.limiter.Decision;
import dev.ratekeeper.sidecar.limiter.Dimension;
import dev.ratekeeper.sidecar.limiter.LimiterOptions;
import dev.ratekeeper.sidecar.limiter.ReconcileRequest;
import dev.ratekeeper.sidecar.limiter.ReconcileResult;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** What only a real Redis can show: the Lua calendar, Redis' own clock, script reloading, key hygiene. */
class RedisScriptsTest {
  @RegisterExtension
  static final ConnectedRedis REDIS = new ConnectedRedis();

  @BeforeEach
  void flush() {
    call(REDIS.connection(), Command.FLUSHALL);
  }

  @Test
  void luaCalendarAgreesWithJavaTime() {
    Random random = new Random(42);
    List<Long> instants = new ArrayList<>();
    long to2400 = Instant.parse("2400-01-01T00:00:00Z").toEpochMilli();
    for (int i = 0; i < 4000; i++) {
      instants.add((long) (random.nextDouble() * to2400));
    }
    // every day boundary (and the ms before it) around several year ends, incl. leap years and ISO week 53s
    for (int year : new int[] {1970, 2000, 2020, 2024, 2026, 2027, 2100}) {
      LocalDate from = LocalDate.of(year - 1, 12, 20);
      for (int d = 0; d < 20; d++) {
        long start = from.plusDays(d).atStartOfDay().toInstant(ZoneOffset.UTC).toEpochMilli();
        instants.add(start);
        instants.add(start - 1);
      }
      long leap = LocalDate.of(year, 3, 1).atStartOfDay().toInstant(ZoneOffset.UTC).toEpochMilli();
      instants.add(leap);
      instants.add(leap - 1);
    }
    String script = LuaScript.named("admit").source().split("\n--\\[\\[\nadmit.lua")[0] + """

        local out = {}
        for i = 1, #ARGV do
          for _, kind in ipairs({'H', 'D', 'W', 'M'}) do
            local id, ends, starts = period(kind, tonumber(ARGV[i]))
            out[#out + 1] = id .. ' ' .. fmt(ends) .. ' ' .. fmt(starts)
          end
        end
        return out
        """;
    Request eval = Request.cmd(Command.EVAL).arg(script).arg(0);
    instants.forEach(ms -> eval.arg(Long.toString(ms)));
    Response reply = await(REDIS.connection().send(eval));
    int i = 0;
    for (long ms : instants) {
      for (CalendarPeriod period : List.of(CalendarPeriod.HOUR, CalendarPeriod.DAY, CalendarPeriod.WEEK,
          CalendarPeriod.MONTH)) {
        String[] idEndStart = reply.get(i++).toString().split(" ");
        assertThat(idEndStart[0] + " " + idEndStart[1]).as("%s of %s", period, Instant.ofEpochMilli(ms))
            .isEqualTo(period.id(ms) + " " + period.endMs(ms));
        // the start: the first ms of the same period (the ms before it is in the period before)
        long start = Long.parseLong(idEndStart[2]);
        assertThat(start).as("start of the %s of %s", period, Instant.ofEpochMilli(ms)).isLessThanOrEqualTo(ms);
        assertThat(period.id(start)).isEqualTo(period.id(ms));
        assertThat(period.id(start - 1)).isNotEqualTo(period.id(ms));
      }
    }
  }

  @Test
  void aReservationRecordIsOneStringReadOnlyByItsOwnSidecarsScripts() {
    RedisLimiterStore store = RedisLimiterStore.create(REDIS.connection(), LimiterOptions.DEFAULTS, RedisTime.server());
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(10)).tokensPerDay(1_000_000).concurrency(3)
        .budget(1_000_000, BudgetPeriod.Monthly)).build();
    // a user id may hold spaces and format directives: it comes last in the record, read back whole
    String user = "a b %d %s";
    AdmitRequest metered = AdmitRequest.metered(p, "rec-1", user, p.tier("free").orElseThrow(), null, 120, 340);
    Decision admitted = await(store.admit(metered));
    assertThat(admitted.allowed()).isTrue();
    String key = "rk:{team-a/agents}:r:rec-1";
    assertThat(call(REDIS.connection(), Command.TYPE, key).toString()).isEqualTo("string");
    assertThat(call(REDIS.connection(), Command.GET, key).toString())
        .isEqualTo("held " + admitted.nowMs() + " 120 340 free " + user);
    assertThat(call(REDIS.connection(), Command.PTTL, key).toLong())
        .isBetween(1L, LimiterOptions.DEFAULTS.recordTtlMs(true));

    ReconcileResult reconciled = await(store.reconcile(new ReconcileRequest(metered, 100, 300)));
    assertThat(reconciled.tokenDelta()).isEqualTo(-20);
    assertThat(reconciled.costDeltaMicros()).isEqualTo(-40);
    assertThat(call(REDIS.connection(), Command.GET, key).toString()).isEqualTo("done");
    String month = CalendarPeriod.MONTH.id(reconciled.nowMs());
    assertThat(call(REDIS.connection(), Command.ZSCORE, "rk:{team-a/agents}:top:" + month, user).toLong())
        .as("the user read back from the record").isEqualTo(300);
    assertThat(call(REDIS.connection(), Command.HGET, "rk:{team-a/agents}:top:" + month + ":tier", user).toString())
        .isEqualTo("free");

    AdmitRequest counted = AdmitRequest.requestsOnly(p, "rec-2", user, p.tier("free").orElseThrow());
    Decision second = await(store.admit(counted));
    assertThat(call(REDIS.connection(), Command.GET, "rk:{team-a/agents}:r:rec-2").toString())
        .isEqualTo("counted " + second.nowMs() + " 0 0 free " + user);
    await(store.refund(counted));
    assertThat(call(REDIS.connection(), Command.GET, "rk:{team-a/agents}:r:rec-2").toString()).isEqualTo("settled");
  }

  @Test
  void aLeaseSetIsPrunedOnlyWhenAChargedAdmissionFindsExpiredLeasesAndADenialWritesNothing() {
    AtomicLong now = new AtomicLong(Instant.parse("2026-12-03T10:00:00Z").toEpochMilli());
    RedisLimiterStore store = RedisLimiterStore.create(REDIS.connection(), LimiterOptions.DEFAULTS,
        RedisTime.pinned(now::get));
    CompiledPolicy p = policy().tier(tier("free").concurrency(2)).build();
    String leases = "rk:{team-a/agents}:u:alice:conc";
    long ttl = LimiterOptions.DEFAULTS.leaseTtlMs();
    AdmitRequest first = lease(p, "l1");
    assertThat(await(store.admit(first)).allowed()).isTrue();
    now.addAndGet(ttl + 1); // l1 expires unreconciled
    assertThat(await(store.admit(lease(p, "l2"))).allowed()).isTrue();
    assertThat(members(leases)).as("the expired lease pruned").containsExactly("l2");
    now.addAndGet(1);
    assertThat(await(store.admit(lease(p, "l3"))).allowed()).isTrue();
    assertThat(members(leases)).containsExactly("l2", "l3");
    Decision denied = await(store.admit(lease(p, "l4")));
    assertThat(denied.allowed()).isFalse();
    assertThat(members(leases)).containsExactly("l2", "l3");
    assertThat(call(REDIS.connection(), Command.EXISTS, "rk:{team-a/agents}:r:l4").toLong()).isZero();
    // both live leases expire: the next admission finds only expired ones, prunes them and is charged
    now.addAndGet(ttl + 1);
    Decision after = await(store.admit(lease(p, "l5")));
    assertThat(after.allowed()).isTrue();
    assertThat(members(leases)).containsExactly("l5");
    assertThat(call(REDIS.connection(), Command.PTTL, leases).toLong()).isBetween(1L, ttl + 1000);
  }

  private static AdmitRequest lease(CompiledPolicy p, String id) {
    return AdmitRequest.metered(p, id, "alice", p.tier("free").orElseThrow(), null, 1, 0);
  }

  private static List<String> members(String key) {
    List<String> out = new ArrayList<>();
    call(REDIS.connection(), Command.ZRANGE, key, "0", "-1").forEach(m -> out.add(m.toString()));
    return out;
  }

  @Test
  void productionClockIsRedisTime() {
    RedisLimiterStore store = RedisLimiterStore.create(REDIS.connection(), LimiterOptions.DEFAULTS, RedisTime.server());
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(10))).build();
    long before = System.currentTimeMillis();
    Decision d = await(store.admit(AdmitRequest.requestsOnly(p, "r1", "alice", p.tier("free").orElseThrow())));
    long after = System.currentTimeMillis();
    // the embedded server runs on this machine, so its clock is ours
    assertThat(d.nowMs()).isBetween(before - 1000, after + 1000);
  }

  @Test
  void anOffsetOnRedisTimeReachesTheNextMonthWithoutWaiting() {
    AtomicLong offset = new AtomicLong();
    RedisLimiterStore store = RedisLimiterStore.create(REDIS.connection(), LimiterOptions.DEFAULTS,
        RedisTime.serverPlus(offset::get));
    CompiledPolicy p = policy().tier(tier("free").budget(1000, BudgetPeriod.Monthly)).build();
    Decision first = await(store.admit(metered(p, 0, 1000)));
    assertThat(first.allowed()).isTrue();
    Decision denied = await(store.admit(metered(p, 0, 1)));
    assertThat(denied.limitedBy()).containsExactly(Dimension.BUDGET);

    long now = denied.nowMs();
    long nextMonth = CalendarPeriod.MONTH.endMs(now);
    assertThat(denied.retryAfterMs()).isBetween(nextMonth - now - 1000, nextMonth - now);
    offset.set(nextMonth - now + 60_000);
    Decision later = await(store.admit(metered(p, 0, 1000)));
    assertThat(later.allowed()).isTrue();
    assertThat(CalendarPeriod.MONTH.id(later.nowMs())).isEqualTo(CalendarPeriod.MONTH.id(nextMonth));
  }

  @Test
  void scriptsAreLoadedAgainAfterAFlush() {
    RedisLimiterStore store = RedisLimiterStore.create(REDIS.connection(), LimiterOptions.DEFAULTS, RedisTime.server());
    await(store.loadScripts());
    CompiledPolicy p = policy().tier(tier("free").concurrency(1)).build();
    AdmitRequest r1 = metered(p, 1, 0);
    assertThat(await(store.admit(r1)).allowed()).isTrue();
    call(REDIS.connection(), Command.SCRIPT, "FLUSH");
    assertThat(await(store.reconcile(ReconcileRequest.release(r1))).outcome())
        .isEqualTo(ReconcileResult.Outcome.RECONCILED);
    call(REDIS.connection(), Command.SCRIPT, "FLUSH");
    assertThat(await(store.admit(metered(p, 1, 0))).allowed()).isTrue();
    assertThat(call(REDIS.connection(), Command.SCRIPT, "EXISTS", store.admitScriptSha()).get(0).toInteger()).isEqualTo(1);
  }

  @Test
  void everyKeyIsUnderThePolicysHashTagAndExpires() {
    RedisLimiterStore store = RedisLimiterStore.create(REDIS.connection(), LimiterOptions.DEFAULTS, RedisTime.server());
    CompiledPolicy p = policy()
        .tier(tier("free").requests(perMinute(10)).tokensPerMinute(perMinute(10_000)).tokensPerHour(100_000)
            .tokensPerDay(1_000_000).concurrency(3).budget(1_000_000, BudgetPeriod.Weekly).globalShare(50))
        .model(model("m", perMinute(100), perMinute(100_000), 10_000_000L))
        .global(perMinute(100), perMinute(100_000), budget(10_000_000, BudgetPeriod.Daily))
        .build();
    AdmitRequest r1 = metered(p, "m", 1000, 1000);
    AdmitRequest r2 = metered(p, "m", 1000, 1000);
    await(store.admit(r1));
    await(store.admit(r2));
    await(store.reconcile(new ReconcileRequest(r1, 500, 500)));
    // a second reconcile writes to statistics fields that exist already: their TTL was set when created
    await(store.reconcile(new ReconcileRequest(r2, 700, 700)));
    Response record = call(REDIS.connection(), Command.GET, "rk:{team-a/agents}:r:" + r1.requestId());
    assertThat(record.toString()).as("a reconciled record keeps only its state").isEqualTo("done");

    List<String> keys = new ArrayList<>();
    call(REDIS.connection(), Command.KEYS, "*").forEach(k -> keys.add(k.toString()));
    // 14 counters less the lease set (both leases given back: Redis drops the empty set), 2 records,
    // stats + top + tier + tokens
    assertThat(keys).hasSize(13 + 2 + 4);
    for (String key : keys) {
      assertThat(key).startsWith("rk:{team-a/agents}:");
      assertThat(call(REDIS.connection(), Command.PTTL, key).toLong()).as("TTL of %s", key).isPositive();
    }
  }

  @Test
  void largeCountersAreWrittenAsExactIntegers() {
    RedisLimiterStore store = RedisLimiterStore.create(REDIS.connection(), LimiterOptions.DEFAULTS,
        RedisTime.pinned(() -> 1_795_428_000_000L));
    CompiledPolicy p = policy().tier(tier("free").tokensPerMinute(perMinute(2_000_000_000L)))
        .global(null, null, budget(9_000_000_000_000L, BudgetPeriod.Monthly)).build();
    await(store.admit(metered(p, 1_999_999_999L, 8_999_999_999_999L)));
    assertThat(call(REDIS.connection(), Command.GET, "rk:{team-a/agents}:u:alice:tpm").toString())
        .isEqualTo("1795428000000:119999999940000");
    assertThat(call(REDIS.connection(), Command.GET, "rk:{team-a/agents}:g:budget").toString())
        .isEqualTo("2026-11:8999999999999");
  }

  @Test
  void theCommandForRedisBenchmarkIsTheStoresOwnCall() {
    RedisLimiterStore store = RedisLimiterStore.create(REDIS.connection(), LimiterOptions.DEFAULTS, RedisTime.server());
    CompiledPolicy p = policy().tier(tier("free").requests(perMinute(10, 2))).build();
    AdmitRequest request = AdmitRequest.requestsOnly(p, "r", "alice", p.tier("free").orElseThrow());
    assertThat(await(store.admit(request)).remainingRequests()).isEqualTo(1);
    List<String> words = store.admitCommand(request);
    assertThat(words.subList(0, 3)).containsExactly("EVALSHA", store.admitScriptSha(), "3");
    Request replay = Request.cmd(Command.EVALSHA);
    words.set(4, words.get(4) + "-replayed"); // KEYS[2], the request's own record: a replay is another request
    words.subList(1, words.size()).forEach(replay::arg);
    Response reply = await(REDIS.connection().send(replay)).get(0); // a batch of one: the list of one reply
    // decided in the stats period the store learnt, every check passing
    assertThat(reply.get(0).toLong()).isEqualTo(AdmitScriptCall.ALL_PASSED);
    assertThat(reply.get(2).toLong()).isEqualTo(1); // committed: the second of a burst of 2
    AdmitRequest third = AdmitRequest.requestsOnly(p, "r3", "alice", p.tier("free").orElseThrow());
    assertThat(await(store.admit(third)).limitedBy()).containsExactly(Dimension.TIER_REQUESTS_PER_MINUTE);
  }

  @Test
  void worksThroughAPooledClientToo() {
    io.vertx.redis.client.Redis client = io.vertx.redis.client.Redis.createClient(REDIS.vertx(), REDIS.url());
    RedisLimiterStore store = RedisLimiterStore.create(client, LimiterOptions.DEFAULTS, RedisTime.server());
    await(store.loadScripts());
    CompiledPolicy p = policy().tier(tier("free").concurrency(2)).build();
    AdmitRequest r1 = metered(p, 1, 0);
    List<io.vertx.core.Future<Decision>> racing = new ArrayList<>();
    racing.add(store.admit(r1));
    for (int i = 0; i < 9; i++) {
      racing.add(store.admit(metered(p, 1, 0)));
    }
    await(io.vertx.core.Future.all(racing));
    assertThat(racing.stream().filter(f -> f.result().allowed()).count()).isEqualTo(2);
    await(client.close());
  }

  private static AdmitRequest metered(CompiledPolicy p, long tokens, long cost) {
    return metered(p, null, tokens, cost);
  }

  private static AdmitRequest metered(CompiledPolicy p, String model, long tokens, long cost) {
    return AdmitRequest.metered(p, UUID.randomUUID().toString(), "alice", p.tier("free").orElseThrow(),
        model == null ? null : p.model(model).orElseThrow(), tokens, cost);
  }
}
