package dev.ratekeeper.sidecar.limiter;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * KEYS and ARGV of one request's {@code lua/admit.lua} call (see the script's header), and its reply
 * read back into {@link CheckOutcome}s. Pure and free of any Redis client, so that every program that
 * runs the script (the sidecar's Redis store, which sends several requests' calls as one batch; the
 * operator, which peeks at a user's limits for {@code kubectl ratekeeper explain}) builds the same
 * call and reads the same reply.
 *
 * @param headKeys the KEYS every request of a batch shares: {@code stats:<periodId>}
 * @param headArgs the ARGV every request of a batch shares (ARGV[1..7]: clock, statistics period, lease
 *     TTL, concurrency hint, statistics retention)
 * @param ownKeys this request's KEYS: its reservation record, then one counter per check
 * @param ownArgs this request's ARGV words after the batch's request count, in the script's order
 */
public record AdmitScriptCall(List<String> headKeys, List<String> headArgs, List<String> ownKeys,
    List<String> ownArgs) {
  /** Reply status: decided ({@code {1, now, committed, 6 numbers per check}}). */
  public static final long DECIDED = 1;
  /** Reply status: decided, every check passed ({@code {3, now, committed, remaining, resetMs, used per check}}). */
  public static final long ALL_PASSED = 3;
  /** Reply status: ARGV[4] is not the current statistics period ({@code {-1, now, periodId}}). */
  public static final long WRONG_PERIOD = -1;
  /** Reply status: a record under this request id exists ({@code {-2, now}}). */
  public static final long DUPLICATE = -2;

  /** The lists are taken as they are, not copied: {@link #of} hands over unmodifiable ones it built for this call. */
  public AdmitScriptCall {
    Objects.requireNonNull(headKeys, "headKeys");
    Objects.requireNonNull(headArgs, "headArgs");
    Objects.requireNonNull(ownKeys, "ownKeys");
    Objects.requireNonNull(ownArgs, "ownArgs");
  }

  /** KEYS of this request sent alone (a batch of one). */
  public List<String> keys() {
    List<String> keys = new ArrayList<>(headKeys.size() + ownKeys.size());
    keys.addAll(headKeys);
    keys.addAll(ownKeys);
    return keys;
  }

  /** ARGV of this request sent alone (a batch of one). */
  public List<String> args() {
    List<String> args = new ArrayList<>(headArgs.size() + 1 + ownArgs.size());
    args.addAll(headArgs);
    args.add("1");
    args.addAll(ownArgs);
    return args;
  }

  /**
   * The reply to a request sent alone: the script answers a list of one reply per request, or one
   * reply for the whole batch ({@link #WRONG_PERIOD}), which is returned as it is.
   */
  public static List<?> alone(List<?> reply) {
    return !reply.isEmpty() && reply.get(0) instanceof List<?> own ? own : reply;
  }

  /**
   * The call deciding {@code request} against {@code checks} ({@link LimitPlan#checks}).
   *
   * @param timeMode ARGV[1]: {@code o} (Redis TIME + offset) or {@code p} (pinned)
   * @param timeValue ARGV[2]: the offset or the pinned time, ms
   * @param periodId the statistics period id the caller believes current (the script answers
   *     {@link #WRONG_PERIOD} with the right one otherwise)
   */
  public static AdmitScriptCall of(AdmitRequest request, List<Check> checks, String periodId, String timeMode,
      String timeValue, LimiterOptions options) {
    PolicyKeys keys = PolicyKeys.of(request.policy());
    return of(request, checks, keys.stats(periodId).admitKeys(),
        headArgs(request.policy(), periodId, timeMode, timeValue, options), options);
  }

  /**
   * The call deciding {@code request} against {@code checks}, with the batch's KEYS and ARGV given
   * (the same for every request of a policy revision, statistics period and clock value, so a caller
   * can build them once: {@link PolicyKeys.Stats#admitKeys()} and {@link #headArgs}).
   */
  public static AdmitScriptCall of(AdmitRequest request, List<Check> checks, List<String> headKeys,
      List<String> headArgs, LimiterOptions options) {
    List<String> keyList = new ArrayList<>(1 + checks.size());
    keyList.add(PolicyKeys.of(request.policy()).redisKeys().reservation(request.requestId()));
    List<String> args = new ArrayList<>(9 + 6 * checks.size());
    args.add(request.requestId());
    args.add(request.user());
    args.add(request.tier().name());
    args.add(request.peek() ? "p" : request.shadow() ? "1" : "0");
    args.add(Long.toString(options.recordTtlMs(request.metered())));
    args.add(request.metered() ? "1" : "0");
    args.add(Long.toString(request.reservedTokens()));
    args.add(Long.toString(request.reservedCostMicros()));
    args.add(Integer.toString(checks.size()));
    for (Check check : checks) {
      addCheck(keyList, args, check);
    }
    return new AdmitScriptCall(headKeys, headArgs, Collections.unmodifiableList(keyList),
        Collections.unmodifiableList(args));
  }

  /** ARGV[1..7] of admit.lua, which every request of a batch shares: clock, statistics period, lease TTL, hints. */
  public static List<String> headArgs(CompiledPolicy policy, String periodId, String timeMode, String timeValue,
      LimiterOptions options) {
    return List.of(timeMode, timeValue, String.valueOf(LimitPlan.statsPeriod(policy).code()), periodId,
        Long.toString(options.leaseTtlMs()), Long.toString(options.concurrencyRetryHintMs()),
        Long.toString(options.statsRetentionMs()));
  }

  /** One check as the scripts that charge counters take it: its key, then kind, unit, cost, limit, p1, p2. */
  public static void addCheck(List<String> keys, List<String> args, Check check) {
    keys.add(check.key());
    args.add(String.valueOf(check.kind().code()));
    args.add(String.valueOf(check.unit().code()));
    args.add(Long.toString(check.cost()));
    args.add(Long.toString(check.limit()));
    addPeriodArgs(args, check);
  }

  /** The two per-check period words every script takes after kind, unit, cost and limit (p1, p2). */
  public static void addPeriodArgs(List<String> args, Check check) {
    switch (check.kind()) {
      case BUCKET -> {
        args.add(Long.toString(check.periodMs()));
        args.add(Long.toString(check.burst()));
      }
      case QUOTA -> {
        if (check.period() == null) { // a run's count: its period ends periodMs (the idle timeout) after each call
          args.add("I");
          args.add(Long.toString(check.periodMs()));
        } else {
          args.add(String.valueOf(check.period().code()));
          args.add("");
        }
      }
      case LEASE -> {
        args.add("");
        args.add("");
      }
    }
  }

  /**
   * The outcomes of a {@link #DECIDED} or {@link #ALL_PASSED} reply, one per check.
   *
   * @throws IllegalStateException when the reply is neither, or does not have the numbers of {@code checks}
   */
  public static List<CheckOutcome> outcomes(List<Long> reply, int checks) {
    if (!decided(reply, checks)) {
      throw new IllegalStateException("unexpected admit.lua reply " + reply);
    }
    boolean allPassed = reply.get(0) == ALL_PASSED;
    List<CheckOutcome> outcomes = new ArrayList<>(checks);
    for (int i = 0; i < checks; i++) {
      if (allPassed) {
        int at = 3 + 3 * i;
        outcomes.add(new CheckOutcome(true, 0, reply.get(at), reply.get(at + 1), reply.get(at + 2), false));
      } else {
        int at = 3 + 6 * i;
        outcomes.add(new CheckOutcome(reply.get(at) == 1, reply.get(at + 1), reply.get(at + 2), reply.get(at + 3),
            reply.get(at + 4), reply.get(at + 5) == 1));
      }
    }
    return outcomes;
  }

  /** Whether {@code reply} decided a request of {@code checks} checks ({@link #DECIDED} or {@link #ALL_PASSED}). */
  public static boolean decided(List<Long> reply, int checks) {
    if (reply.isEmpty()) {
      return false;
    }
    long status = reply.get(0);
    return status == DECIDED && reply.size() == 3 + 6 * checks
        || status == ALL_PASSED && reply.size() == 3 + 3 * checks;
  }

  /** The script's source as Redis runs it: {@code lua/common.lua}, a newline, {@code lua/admit.lua}. */
  public static String scriptSource() {
    return scriptSource("admit");
  }

  /** {@code lua/common.lua} + newline + {@code lua/<name>.lua} from the classpath. */
  public static String scriptSource(String name) {
    return resource("lua/common.lua") + "\n" + resource("lua/" + name + ".lua");
  }

  /** The SHA-1 Redis names a script by ({@code EVALSHA}), in hex. */
  public static String sha1(String source) {
    try {
      return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-1")
          .digest(source.getBytes(StandardCharsets.UTF_8)));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A classpath resource as text (the scripts under {@code lua/}). */
  public static String resource(String path) {
    try (InputStream in = AdmitScriptCall.class.getClassLoader().getResourceAsStream(path)) {
      if (in == null) {
        throw new IllegalStateException("missing resource " + path);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
