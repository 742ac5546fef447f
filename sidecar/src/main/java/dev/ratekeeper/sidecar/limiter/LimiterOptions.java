package dev.ratekeeper.sidecar.limiter;

/**
 * Store settings.
 *
 * @param leaseTtlMs how long a concurrency lease lives unless reconcile releases it first
 * @param reservationTtlMs how long a reservation record waits for its reconcile; a request that runs
 *     longer keeps its reservation charged (never under-charged)
 * @param reconciledTtlMs how long a reconciled record stays, so a repeated reconcile is a no-op (a minute:
 *     long enough for a retried reconcile, short enough that records of finished requests do not pile up)
 * @param concurrencyRetryHintMs the wait reported when concurrency blocks (a lease may end any moment)
 * @param statsRetentionMs how long usage statistics outlive their period
 */
public record LimiterOptions(long leaseTtlMs, long reservationTtlMs, long reconciledTtlMs,
    long concurrencyRetryHintMs, long statsRetentionMs) {

  public static final LimiterOptions DEFAULTS =
      new LimiterOptions(600_000, 7_200_000, 60_000, 1_000, 35L * 24 * 3_600_000);

  public LimiterOptions {
    if (leaseTtlMs < 1 || reservationTtlMs < leaseTtlMs || reconciledTtlMs < 1 || concurrencyRetryHintMs < 1
        || statsRetentionMs < 0) {
      throw new IllegalArgumentException("need leaseTtlMs >= 1, reservationTtlMs >= leaseTtlMs, reconciledTtlMs >= 1,"
          + " concurrencyRetryHintMs >= 1, statsRetentionMs >= 0");
    }
  }

  /**
   * How long an admission's record stays: a metered one until its reconcile is due; a requests-only
   * one only as long as a refund of its charge could matter (its request buckets drain within a minute).
   */
  public long recordTtlMs(boolean metered) {
    return metered ? reservationTtlMs : reconciledTtlMs;
  }

  public LimiterOptions withLeaseTtlMs(long leaseTtlMs) {
    return new LimiterOptions(leaseTtlMs, Math.max(reservationTtlMs, leaseTtlMs), reconciledTtlMs,
        concurrencyRetryHintMs, statsRetentionMs);
  }
}
