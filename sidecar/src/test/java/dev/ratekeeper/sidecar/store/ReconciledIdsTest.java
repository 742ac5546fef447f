package dev.ratekeeper.sidecar.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** The compact set of reconciled request ids: exact ids, exact expiries, purged oldest first, arrays that shrink. */
class ReconciledIdsTest {
  /** Ids of every shape: the proxy's, UUIDs, leading zeros, upper case, no digits at all, 12 and 13 digits. */
  private static final List<String> ODD_IDS = List.of("sidecar-1a2b3c4d-3kq8x1z9m0ab-1",
      "sidecar-1a2b3c4d-3kq8x1z9m0ab-zz", "r7", "r07", "r007", "r0007", "7", "07", "0", "00", "", "ABC", "abc-",
      "x-ZZ9", "x-zz9", "x-Zz9", "-", "a-zzzzzzzzzzzz", "a-zzzzzzzzzzzzz", "zzzzzzzzzzzzz", "abcdefghijklmnopqrstuvwxyz",
      "3f2a8c4e-1b7d-4e0f-9a6c-0d5e8b7a6f10", "3f2a8c4e-1b7d-4e0f-9a6c-d5e8b7a6f10", "é1", "é01", "\u20ac9");

  @Test
  void anIdIsSplitSoThatItPrintsBackExactly() {
    for (String id : ODD_IDS) {
      int split = ReconciledIds.split(id);
      long number = ReconciledIds.number(id, split);
      String rebuilt = id.substring(0, split) + (number < 0 ? "" : Long.toString(number, 36));
      assertThat(rebuilt).as(id).isEqualTo(id);
    }
    assertThat(ReconciledIds.split("sidecar-1a2b3c4d-3kq8x1z9m0ab-1z")).isEqualTo(30);
    assertThat(ReconciledIds.number("sidecar-1a2b3c4d-3kq8x1z9m0ab-1z", 30)).isEqualTo(71);
    assertThat(ReconciledIds.split("r007")).isZero(); // "r007" is a base-36 number
    assertThat(ReconciledIds.split("x-007")).isEqualTo(4);
    assertThat(ReconciledIds.split("x-ZZ9")).isEqualTo(4);
    assertThat(ReconciledIds.number("ABC", ReconciledIds.split("ABC"))).isEqualTo(-1);
    assertThat(ReconciledIds.number("a-zzzzzzzzzzzzz", ReconciledIds.split("a-zzzzzzzzzzzzz")))
        .isEqualTo(Long.parseLong("zzzzzzzzzzzz", 36));
  }

  @Test
  void idsThatShareTheirPartsAreKeptApart() {
    ReconciledIds ids = new ReconciledIds();
    for (int i = 0; i < ODD_IDS.size(); i++) {
      ids.add(ODD_IDS.get(i), 1000 + i);
    }
    assertThat(ids.size()).isEqualTo(ODD_IDS.size());
    for (int i = 0; i < ODD_IDS.size(); i++) {
      assertThat(ids.liveUntil(ODD_IDS.get(i), 0)).as(ODD_IDS.get(i)).isEqualTo(1000 + i);
    }
    assertThat(ids.liveUntil("r70", 0)).isEqualTo(ReconciledIds.NONE);
    assertThat(ids.liveUntil("R7", 0)).isEqualTo(ReconciledIds.NONE);
    assertThat(ids.liveUntil("sidecar-1a2b3c4d-3kq8x1z9m0ab-2", 0)).isEqualTo(ReconciledIds.NONE);
    Map<String, Long> listed = new TreeMap<>();
    ids.forEachLive(0, listed::put);
    assertThat(listed).hasSize(ODD_IDS.size()).containsEntry("r007", 1004L).containsEntry("", 1010L);
  }

  @Test
  void anIdLivesUntilItsExpiryInclusiveAndIsDroppedWhenFoundExpired() {
    ReconciledIds ids = new ReconciledIds();
    ids.add("a-1", 5000);
    ids.add("a-2", 5001);
    assertThat(ids.liveUntil("a-1", 5000)).isEqualTo(5000);
    assertThat(ids.liveUntil("a-1", 5001)).isEqualTo(ReconciledIds.NONE);
    assertThat(ids.size()).isEqualTo(1);
    assertThat(ids.liveUntil("a-2", 5001)).isEqualTo(5001);
    // added again: the old expiry is replaced
    ids.add("a-2", 9000);
    assertThat(ids.size()).isEqualTo(1);
    assertThat(ids.liveUntil("a-2", 8000)).isEqualTo(9000);
  }

  @Test
  void purgeDropsExactlyTheExpiredOnesFromTheOldestEndInBoundedSteps() {
    ReconciledIds ids = new ReconciledIds();
    for (int i = 0; i < 1000; i++) {
      ids.add("s-" + Long.toString(i, 36), 10_000 + i);
    }
    assertThat(ids.purge(10_500, 16)).isEqualTo(16);
    assertThat(ids.size()).isEqualTo(984);
    assertThat(ids.purge(10_500, Integer.MAX_VALUE)).isEqualTo(484); // expiries 10,016 .. 10,499
    assertThat(ids.size()).isEqualTo(500);
    assertThat(ids.purge(10_500, Integer.MAX_VALUE)).isZero();
    assertThat(ids.liveUntil("s-" + Long.toString(499, 36), 0)).isEqualTo(ReconciledIds.NONE);
    assertThat(ids.liveUntil("s-" + Long.toString(500, 36), 0)).isEqualTo(10_500);

    // an id dropped in the middle leaves a slot the purge steps over (and counts as a step)
    assertThat(ids.liveUntil("s-" + Long.toString(501, 36), 20_000)).isEqualTo(ReconciledIds.NONE);
    assertThat(ids.size()).isEqualTo(499);
    assertThat(ids.purge(10_503, 3)).isEqualTo(2); // 10,500 and 10,502; the slot of 10,501 was empty
    assertThat(ids.purge(10_503, 3)).isZero(); // 10,503 is still live
    assertThat(ids.size()).isEqualTo(497);
  }

  @Test
  void theArraysGrowWithTheIdsAndShrinkWhenTheyExpire() {
    ReconciledIds ids = new ReconciledIds();
    assertThat(ids.capacity()).isEqualTo(16);
    for (int i = 0; i < 100_000; i++) {
      ids.add("sidecar-x-" + Long.toString(i, 36), i);
    }
    assertThat(ids.size()).isEqualTo(100_000);
    assertThat(ids.capacity()).isEqualTo(131_072);
    assertThat(ids.purge(99_900, Integer.MAX_VALUE)).isEqualTo(99_900);
    assertThat(ids.size()).isEqualTo(100);
    assertThat(ids.capacity()).isEqualTo(128);
    for (int i = 99_900; i < 100_000; i++) {
      assertThat(ids.liveUntil("sidecar-x-" + Long.toString(i, 36), 0)).isEqualTo(i);
    }
    assertThat(ids.purge(100_000, Integer.MAX_VALUE)).isEqualTo(100);
    assertThat(ids.capacity()).isEqualTo(16);
  }

  @Test
  void agreesWithAMapUnderARandomMixOfOperations() {
    Random random = new Random(13);
    List<String> pool = new ArrayList<>(ODD_IDS);
    for (int i = 0; i < 300; i++) {
      pool.add(random.nextBoolean() ? "sidecar-q-" + Long.toString(random.nextInt(2000), 36) : UUID.randomUUID().toString());
    }
    ReconciledIds ids = new ReconciledIds();
    Map<String, Long> expected = new HashMap<>();
    long now = 0;
    for (int step = 0; step < 200_000; step++) {
      String id = pool.get(random.nextInt(pool.size()));
      int roll = random.nextInt(10);
      if (roll < 5) {
        ids.add(id, now + 50);
        expected.put(id, now + 50);
      } else if (roll < 9) {
        Long until = expected.get(id);
        long want = until == null || until < now ? ReconciledIds.NONE : until;
        if (until != null && until < now) {
          expected.remove(id);
        }
        assertThat(ids.liveUntil(id, now)).as("step %d %s", step, id).isEqualTo(want);
      } else {
        long cut = now;
        int expired = (int) expected.values().stream().filter(e -> e < cut).count();
        assertThat(ids.purge(now, Integer.MAX_VALUE)).as("step %d", step).isEqualTo(expired);
        expected.values().removeIf(e -> e < cut);
      }
      assertThat(ids.size()).as("step %d", step).isEqualTo(expected.size());
      now += random.nextInt(3);
    }
  }
}
