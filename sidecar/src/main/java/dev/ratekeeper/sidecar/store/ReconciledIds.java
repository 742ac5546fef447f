package dev.ratekeeper.sidecar.store;

import java.util.function.ObjLongConsumer;

/**
 * The reconciled request ids of one policy, each with its expiry: what the in-process store keeps of
 * a reconciled reservation record ({@code state=done}) so that a repeated reconcile within the
 * reconciled-record TTL is a no-op and a reused id a duplicate, as in Redis. One is kept per
 * reconciled request for the TTL (a minute: ~480k at 8k req/s), so each is kept small, without an
 * object of its own.
 *
 * <p>An id is kept as a prefix and a number: its longest tail (at most 12 characters) of base-36
 * digits without a leading zero, and what comes before. The proxy's ids ({@code <sidecar id>-<nonce>-<sequence
 * in base 36>}) share one prefix object, so an id costs 28-56 bytes here: the prefix reference, the
 * number, the expiry (in a ring of arrays in the order the ids came), and an int in an open-addressing
 * index (half full or less). The split is a function of the id and the id is rebuilt from it exactly,
 * so two ids are equal exactly when their parts are.
 *
 * <p>The ring is in the order the ids were added, which is the order they expire when added with one
 * TTL on a clock that does not go back: {@link #purge} drops expired ids from the oldest end, O(what
 * it drops), in steps as small as the caller asks. An id found expired by a lookup, or added again,
 * is dropped where it is (its slot left empty until the oldest end passes it). The arrays grow by
 * doubling, and shrink when a quarter or less of them is used.
 *
 * <p>Not thread-safe: the store calls it under its lock.
 */
final class ReconciledIds {
  /** Absent (or expired) in {@link #liveUntil}. */
  static final long NONE = Long.MIN_VALUE;
  /** The most base-36 digits a number part has: 36^12 - 1 fits in a long. */
  private static final int MAX_DIGITS = 12;
  private static final int MIN_CAPACITY = 16;

  // the ring: entry i is at (head + i) & (capacity - 1), for i < count; prefixes[pos] == null: dropped
  private String[] prefixes;
  private long[] numbers;
  private long[] expiries;
  private int head;
  private int count;
  private int live;
  /** Open addressing, linear probing: ring position + 1, 0 = free; twice the ring's capacity. */
  private int[] index;
  /** The prefix of the last id added, shared by the next ids with the same prefix. */
  private String lastPrefix;

  ReconciledIds() {
    allocate(MIN_CAPACITY);
  }

  /** Ids held, expired or not (until a lookup or {@link #purge} drops them). */
  int size() {
    return live;
  }

  /** Ids the arrays have room for (the ring's length). */
  int capacity() {
    return prefixes.length;
  }

  /**
   * Keeps {@code id} until {@code expiresAtMs}; an id already held is replaced (its old slot dropped).
   * Expiries should come in non-decreasing order (one TTL, a clock that does not go back) for
   * {@link #purge} to find every expired id from the oldest end.
   */
  void add(String id, long expiresAtMs) {
    int split = split(id);
    long number = number(id, split);
    int hash = hash(prefixHash(id, split), number);
    int found = find(id, split, number, hash);
    if (found >= 0) {
      drop(found);
    }
    if (count == prefixes.length) {
      resize(live < prefixes.length / 2 ? prefixes.length : prefixes.length * 2);
    }
    int pos = (head + count) & (prefixes.length - 1);
    prefixes[pos] = sharedPrefix(id, split);
    numbers[pos] = number;
    expiries[pos] = expiresAtMs;
    count++;
    live++;
    insert(pos, hash);
  }

  /**
   * The expiry of {@code id} if it is held and has not expired at {@code nowMs} (an expiry equal to
   * now is still live, as the store's other keys); {@link #NONE} otherwise. An expired id is dropped.
   */
  long liveUntil(String id, long nowMs) {
    int split = split(id);
    long number = number(id, split);
    int pos = find(id, split, number, hash(prefixHash(id, split), number));
    if (pos < 0) {
      return NONE;
    }
    if (expiries[pos] < nowMs) {
      drop(pos);
      return NONE;
    }
    return expiries[pos];
  }

  /**
   * Drops the ids expired at {@code nowMs} from the oldest end, looking at no more than {@code maxSteps}
   * slots (dropped slots included); stops at the first id still live. Then, if a quarter or less of
   * the arrays is used, copies the ids into arrays at most twice as long as they need.
   *
   * @return how many ids it dropped
   */
  int purge(long nowMs, int maxSteps) {
    int mask = prefixes.length - 1;
    int purged = 0;
    for (int steps = 0; count > 0 && steps < maxSteps; steps++) {
      if (prefixes[head] != null) {
        if (expiries[head] >= nowMs) {
          break;
        }
        unindex(head);
        prefixes[head] = null;
        live--;
        purged++;
      }
      head = (head + 1) & mask;
      count--;
    }
    if (count == 0) {
      head = 0;
    }
    if (prefixes.length > MIN_CAPACITY && live <= prefixes.length / 4) {
      resize(Math.max(MIN_CAPACITY, Integer.highestOneBit(Math.max(1, live)) << 1));
    }
    return purged;
  }

  /** Every id held that is live at {@code nowMs}, with its expiry, oldest first. */
  void forEachLive(long nowMs, ObjLongConsumer<String> action) {
    int mask = prefixes.length - 1;
    for (int i = 0; i < count; i++) {
      int pos = (head + i) & mask;
      if (prefixes[pos] != null && expiries[pos] >= nowMs) {
        action.accept(id(pos), expiries[pos]);
      }
    }
  }

  private String id(int pos) {
    return numbers[pos] < 0 ? prefixes[pos] : prefixes[pos] + Long.toString(numbers[pos], 36);
  }

  /** Where the number part of {@code id} starts ({@code id.length()} when it has none). */
  static int split(String id) {
    int end = id.length();
    int start = end;
    while (start > 0 && end - start < MAX_DIGITS && base36(id.charAt(start - 1)) >= 0) {
      start--;
    }
    while (start < end - 1 && id.charAt(start) == '0') {
      start++; // "007" is "00" + 7: no leading zero, so the number prints back as it was written
    }
    return start;
  }

  /** The number part of {@code id} from {@code split}, or -1 when it has none. */
  static long number(String id, int split) {
    if (split == id.length()) {
      return -1;
    }
    long n = 0;
    for (int i = split; i < id.length(); i++) {
      n = n * 36 + base36(id.charAt(i));
    }
    return n;
  }

  /** The digit {@link Long#toString(long, int)} writes as {@code c} in base 36, or -1 (upper case is not one). */
  private static int base36(char c) {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'z') {
      return c - 'a' + 10;
    }
    return -1;
  }

  private String sharedPrefix(String id, int split) {
    String last = lastPrefix;
    if (last != null && last.length() == split && id.startsWith(last)) {
      return last;
    }
    lastPrefix = id.substring(0, split);
    return lastPrefix;
  }

  /** {@code id.substring(0, split).hashCode()}, without the substring. */
  private static int prefixHash(String id, int split) {
    int h = 0;
    for (int i = 0; i < split; i++) {
      h = 31 * h + id.charAt(i);
    }
    return h;
  }

  private static int hash(int prefixHash, long number) {
    long x = number * 0x9E3779B97F4A7C15L + prefixHash;
    x ^= x >>> 32;
    x *= 0xD6E8FEB86659FD93L;
    return (int) (x ^ (x >>> 32));
  }

  private int hashAt(int pos) {
    return hash(prefixes[pos].hashCode(), numbers[pos]);
  }

  /** The ring position of the id made of these parts, or -1. */
  private int find(String id, int split, long number, int hash) {
    int mask = index.length - 1;
    for (int i = hash & mask; ; i = (i + 1) & mask) {
      int slot = index[i];
      if (slot == 0) {
        return -1;
      }
      int pos = slot - 1;
      String prefix = prefixes[pos];
      if (numbers[pos] == number && prefix.length() == split && id.startsWith(prefix)) {
        return pos;
      }
    }
  }

  private void insert(int pos, int hash) {
    int mask = index.length - 1;
    int i = hash & mask;
    while (index[i] != 0) {
      i = (i + 1) & mask;
    }
    index[i] = pos + 1;
  }

  /** Removes ring position {@code pos} from the index, shifting back the entries probed past it. */
  private void unindex(int pos) {
    int mask = index.length - 1;
    int i = hashAt(pos) & mask;
    while (index[i] != pos + 1) {
      i = (i + 1) & mask;
    }
    index[i] = 0;
    for (int j = (i + 1) & mask; index[j] != 0; j = (j + 1) & mask) {
      int home = hashAt(index[j] - 1) & mask;
      // the entry at j may move to the hole at i unless its home lies cyclically in (i, j]
      boolean stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!stays) {
        index[i] = index[j];
        index[j] = 0;
        i = j;
      }
    }
  }

  /** Drops the id at ring position {@code pos} where it is. */
  private void drop(int pos) {
    unindex(pos);
    prefixes[pos] = null;
    live--;
  }

  /** Copies the live ids, oldest first, into arrays of {@code capacity} (a power of 2, at least {@link #live}). */
  private void resize(int capacity) {
    String[] oldPrefixes = prefixes;
    long[] oldNumbers = numbers;
    long[] oldExpiries = expiries;
    int oldMask = oldPrefixes.length - 1;
    int oldHead = head;
    int oldCount = count;
    allocate(capacity);
    for (int i = 0; i < oldCount; i++) {
      int from = (oldHead + i) & oldMask;
      if (oldPrefixes[from] != null) {
        prefixes[count] = oldPrefixes[from];
        numbers[count] = oldNumbers[from];
        expiries[count] = oldExpiries[from];
        insert(count, hashAt(count));
        count++;
      }
    }
    live = count;
  }

  private void allocate(int capacity) {
    prefixes = new String[capacity];
    numbers = new long[capacity];
    expiries = new long[capacity];
    index = new int[capacity * 2];
    head = 0;
    count = 0;
    live = 0;
  }
}
