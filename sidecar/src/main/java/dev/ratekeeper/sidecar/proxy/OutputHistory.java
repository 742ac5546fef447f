package dev.ratekeeper.sidecar.proxy;

import dev.ratekeeper.policy.compile.CompiledModel;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What a model really produced lately, per tier, in this sidecar: the last {@value #SAMPLES} output
 * sizes the provider reported, for models with {@code reserveOutputPercentile}. A call to such a
 * model reserves that percentile of them instead of its whole output cap (never more than the cap;
 * the cap until {@value #MIN_SAMPLES} outputs were seen), so reservations sized from {@code max_tokens}
 * alone do not refuse calls while real spend is a fraction of the budget. The reconcile still charges
 * every token used; a call that uses more than it reserved can take a budget past its limit by at
 * most (its cap − its reservation), so a budget is exceeded by at most the sum of that over the calls
 * in flight (docs/reliability.md).
 *
 * <p>Only calls that ended on their own are recorded: not those cut short, not those stopped by the
 * caller's own cap (a client sending tiny {@code max_tokens} cannot drag the percentile down for
 * the tier), not those charged on an estimate. A client can still shape the outputs of its own calls
 * (short prompts, then long ones); what that allows stays within the overshoot bound above, which a
 * tier's {@code concurrency} limits further.
 *
 * <p>Kept per sidecar, not in Redis: a percentile of its own recent calls needs no shared state, and
 * the admission stays one script call. Thread-safe; bounded memory (one ring per model, tier and
 * percentile, all from the policy).
 */
final class OutputHistory {
  static final int SAMPLES = 256;
  static final int MIN_SAMPLES = 20;
  /** The percentile is recomputed after this many new outputs (sorting 256 numbers each time is cheap, not free). */
  static final int RECOMPUTE_EVERY = 16;

  /** Model pattern, then percentile, then tier: looked up level by level, no key made per call. */
  private final ConcurrentHashMap<String, ConcurrentHashMap<Integer, ConcurrentHashMap<String, Ring>>> rings =
      new ConcurrentHashMap<>();

  /** Records the output the provider reported for a call to {@code model} by a caller of {@code tier}. */
  void record(CompiledModel model, String tier, long outputTokens) {
    if (model == null || model.reserveOutputPercentile() == null || outputTokens < 0) {
      return;
    }
    ConcurrentHashMap<String, Ring> byTier = rings.computeIfAbsent(model.pattern(), k -> new ConcurrentHashMap<>())
        .computeIfAbsent(model.reserveOutputPercentile(), k -> new ConcurrentHashMap<>());
    Ring ring = byTier.get(tier);
    if (ring == null) {
      ring = byTier.computeIfAbsent(tier, k -> new Ring(model.reserveOutputPercentile()));
    }
    ring.add(outputTokens);
  }

  /** The output tokens a call with output cap {@code cap} reserves. */
  long reservation(CompiledModel model, String tier, long cap) {
    if (model == null || model.reserveOutputPercentile() == null) {
      return cap;
    }
    Ring ring = ring(model, tier);
    long observed = ring == null ? -1 : ring.percentile();
    return observed < 0 ? cap : Math.min(cap, observed);
  }

  /** Per model, tier and percentile: a policy change of the percentile starts a new history. */
  private Ring ring(CompiledModel model, String tier) {
    ConcurrentHashMap<Integer, ConcurrentHashMap<String, Ring>> byPercentile = rings.get(model.pattern());
    ConcurrentHashMap<String, Ring> byTier = byPercentile == null ? null
        : byPercentile.get(model.reserveOutputPercentile());
    return byTier == null ? null : byTier.get(tier);
  }

  private static final class Ring {
    private final int percentile;
    private final long[] outputs = new long[SAMPLES];
    private int count;
    private int next;
    private int sinceComputed;
    private long current = -1;

    Ring(int percentile) {
      this.percentile = percentile;
    }

    synchronized void add(long output) {
      outputs[next] = output;
      next = (next + 1) % SAMPLES;
      count = Math.min(SAMPLES, count + 1);
      if (count >= MIN_SAMPLES && (current < 0 || ++sinceComputed >= RECOMPUTE_EVERY)) {
        long[] sorted = Arrays.copyOf(outputs, count);
        Arrays.sort(sorted);
        int rank = (int) Math.ceil(percentile / 100.0 * count) - 1;
        current = sorted[Math.max(0, Math.min(count - 1, rank))];
        sinceComputed = 0;
      }
    }

    /** The percentile of the recent outputs, or -1 while fewer than {@link #MIN_SAMPLES} were seen. */
    synchronized long percentile() {
      return current;
    }
  }
}
