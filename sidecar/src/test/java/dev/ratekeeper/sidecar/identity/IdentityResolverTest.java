package dev.ratekeeper.sidecar.identity;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ratekeeper.policy.compile.CompiledPolicy;
import dev.ratekeeper.sidecar.limiter.TestPolicy;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Outcomes of identifying a caller, as values; unknown keys are rate limited on an injected clock. */
class IdentityResolverTest {
  static final CompiledPolicy POLICY = TestPolicy.compile("""
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: ids, namespace: t}
      spec:
        identity:
          apiKeySecretRef: {name: keys}
          requireApiKey: true
        tiers:
        - name: free
      """);
  static final Map<String, String> KEYS = Map.of(ApiKeys.hash("ak-alice"), "alice");

  private final AtomicLong now = new AtomicLong();
  private final AtomicInteger lookups = new AtomicInteger();
  private final IdentityResolver resolver = new IdentityResolver(hash -> {
    lookups.incrementAndGet();
    return Future.succeededFuture(KEYS.get(hash));
  }, now::get);

  private IdentityResolver.Resolution resolve(String key) {
    MultiMap headers = MultiMap.caseInsensitiveMultiMap();
    if (key != null) {
      headers.add("X-Ratekeeper-Api-Key", key);
    }
    return resolver.resolve(POLICY, headers).result();
  }

  private static IdentityResolver.Reason reason(IdentityResolver.Resolution r) {
    return r instanceof IdentityResolver.Refused refused ? refused.reason() : null;
  }

  @Test
  void aKnownKeyNamesTheUserAndAMissingRequiredKeyIsRefused() {
    assertThat(resolve("ak-alice")).isEqualTo(new IdentityResolver.Resolved(new Caller("alice", "free")));
    assertThat(reason(resolve(null))).isEqualTo(IdentityResolver.Reason.KEY_REQUIRED);
    assertThat(reason(resolve("nope"))).isEqualTo(IdentityResolver.Reason.UNKNOWN_KEY);
  }

  @Test
  void unknownKeysPastTheBurstAreRefusedWithoutALookupUntilTokensRefill() {
    resolve("ak-alice");
    for (int i = 0; i < IdentityResolver.FAILURE_BURST; i++) {
      assertThat(reason(resolve("guess-" + i))).isEqualTo(IdentityResolver.Reason.UNKNOWN_KEY);
    }
    int before = lookups.get();
    IdentityResolver.Resolution limited = resolve("guess-x");
    assertThat(reason(limited)).isEqualTo(IdentityResolver.Reason.TOO_MANY_UNKNOWN_KEYS);
    assertThat(((IdentityResolver.Refused) limited).retryAfterMs()).isEqualTo(1000 / IdentityResolver.FAILURES_PER_SECOND);
    assertThat(lookups.get()).as("no lookup while limited").isEqualTo(before);
    // a key recently found valid is still looked up and passes
    assertThat(resolve("ak-alice")).isInstanceOf(IdentityResolver.Resolved.class);
    // a fifth of a second later one more unknown key may be tried
    now.addAndGet(200_000_000L);
    assertThat(reason(resolve("guess-y"))).isEqualTo(IdentityResolver.Reason.UNKNOWN_KEY);
    assertThat(reason(resolve("guess-z"))).isEqualTo(IdentityResolver.Reason.TOO_MANY_UNKNOWN_KEYS);
  }

  @Test
  void aLookupThatFailsIsTheStoreBeingUnavailableNotAnUnknownKey() {
    IdentityResolver down = new IdentityResolver(hash -> Future.failedFuture("connection refused"), now::get);
    MultiMap headers = MultiMap.caseInsensitiveMultiMap().add("X-Ratekeeper-Api-Key", "ak-alice");
    IdentityResolver.Resolution resolution = down.resolve(POLICY, headers).result();
    assertThat(reason(resolution)).isEqualTo(IdentityResolver.Reason.STORE_UNAVAILABLE);
    assertThat(((IdentityResolver.Refused) resolution).message()).doesNotContain("ak-alice").doesNotContain("refused");
  }

  static final CompiledPolicy OPTIONAL_KEYS = TestPolicy.compile("""
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: gw, namespace: t}
      spec:
        identity:
          apiKeySecretRef: {name: keys}
          trustTierHeader: true
        defaultTier: free
        users:
        - {id: alice, tier: pro}
        tiers:
        - name: free
        - name: pro
        onStoreUnavailable: LocalFallback
      """);

  @Test
  void gatewayModeRequiresAKeyWhateverThePolicyAndReadsNoHeaders() {
    // the policy does not require keys and trusts the tier header: the gateway does neither
    assertThat(reason(resolver.resolveKey(OPTIONAL_KEYS, null).result())).isEqualTo(IdentityResolver.Reason.KEY_REQUIRED);
    assertThat(reason(resolver.resolveKey(OPTIONAL_KEYS, "  ").result())).isEqualTo(IdentityResolver.Reason.KEY_REQUIRED);
    assertThat(reason(resolver.resolveKey(OPTIONAL_KEYS, "nope").result())).isEqualTo(IdentityResolver.Reason.UNKNOWN_KEY);
    assertThat(resolver.resolveKey(OPTIONAL_KEYS, "ak-alice").result())
        .isEqualTo(new IdentityResolver.Resolved(new Caller("alice", "pro")));
    IdentityResolver noKeys = new IdentityResolver(null, now::get);
    assertThat(reason(noKeys.resolveKey(OPTIONAL_KEYS, "ak-alice").result()))
        .isEqualTo(IdentityResolver.Reason.UNKNOWN_KEY);
  }

  @Test
  void gatewayModeKeepsRecentlyValidKeysThroughAnOutageUnlessFailClosed() {
    AtomicInteger up = new AtomicInteger(1);
    IdentityResolver flaky = new IdentityResolver(hash -> up.get() == 1 ? Future.succeededFuture(KEYS.get(hash))
        : Future.failedFuture("connection refused"), now::get);
    assertThat(flaky.resolveKey(OPTIONAL_KEYS, "ak-alice").result()).isInstanceOf(IdentityResolver.Resolved.class);
    up.set(0);
    assertThat(flaky.resolveKey(OPTIONAL_KEYS, "ak-alice").result())
        .isEqualTo(new IdentityResolver.Resolved(new Caller("alice", "pro")));
    // a key never seen is not let in on trust
    IdentityResolver fresh = new IdentityResolver(hash -> Future.failedFuture("connection refused"), now::get);
    assertThat(reason(fresh.resolveKey(OPTIONAL_KEYS, "ak-alice").result()))
        .isEqualTo(IdentityResolver.Reason.STORE_UNAVAILABLE);
    CompiledPolicy failClosed = TestPolicy.compile(POLICY_TEXT_FAIL_CLOSED);
    assertThat(reason(flaky.resolveKey(failClosed, "ak-alice").result()))
        .isEqualTo(IdentityResolver.Reason.STORE_UNAVAILABLE);
    // and the sidecar's own resolution is unchanged: the proxy decides by onStoreUnavailable
    assertThat(reason(flaky.resolve(OPTIONAL_KEYS, MultiMap.caseInsensitiveMultiMap().add("X-Ratekeeper-Api-Key",
        "ak-alice")).result())).isEqualTo(IdentityResolver.Reason.STORE_UNAVAILABLE);
  }

  @Test
  void behindTheGatewayTheUserHeaderSetByTheGateIsTheCaller() {
    IdentityResolver behind = IdentityResolver.behindGateway();
    MultiMap headers = MultiMap.caseInsensitiveMultiMap().add("X-Ratekeeper-User", "alice");
    // requireApiKey does not refuse here: the gate checked the key and replaced it by its user
    assertThat(behind.resolve(POLICY, headers).result()).isEqualTo(new IdentityResolver.Resolved(new Caller("alice", "free")));
  }

  static final String POLICY_TEXT_FAIL_CLOSED = """
      apiVersion: ratekeeper.dev/v1alpha1
      kind: RateLimitPolicy
      metadata: {name: gw, namespace: t}
      spec:
        identity:
          apiKeySecretRef: {name: keys}
        tiers:
        - name: free
        onStoreUnavailable: FailClosed
      """;

  @Test
  void atTheGatewayOneClientGuessingKeysLocksNoOtherOut() {
    IdentityResolver gateway = IdentityResolver.forGateway(hash -> {
      lookups.incrementAndGet();
      return Future.succeededFuture(KEYS.get(hash));
    }, now::get);
    for (int i = 0; i < IdentityResolver.FAILURE_BURST; i++) {
      assertThat(reason(gateway.resolveKey(OPTIONAL_KEYS, "guess-" + i, "10.0.0.66").result()))
          .isEqualTo(IdentityResolver.Reason.UNKNOWN_KEY);
    }
    assertThat(reason(gateway.resolveKey(OPTIONAL_KEYS, "guess-x", "10.0.0.66").result()))
        .as("the guesser is limited").isEqualTo(IdentityResolver.Reason.TOO_MANY_UNKNOWN_KEYS);
    // another client's first use of a valid key, and its typo, are still looked up
    assertThat(gateway.resolveKey(OPTIONAL_KEYS, "ak-alice", "10.0.0.7").result())
        .isEqualTo(new IdentityResolver.Resolved(new Caller("alice", "pro")));
    assertThat(reason(gateway.resolveKey(OPTIONAL_KEYS, "ak-alicee", "10.0.0.7").result()))
        .isEqualTo(IdentityResolver.Reason.UNKNOWN_KEY);
    // all addresses together: the gateway's ceiling bounds the lookups an attack from many costs
    int refused = 0;
    for (int i = 0; i < IdentityResolver.GATEWAY_FAILURE_BURST + 10; i++) {
      String from = "10.1." + (i / 10) + "." + (i % 10);
      if (reason(gateway.resolveKey(OPTIONAL_KEYS, "spray-" + i, from).result())
          == IdentityResolver.Reason.TOO_MANY_UNKNOWN_KEYS) {
        refused++;
      }
    }
    assertThat(refused).isEqualTo(IdentityResolver.FAILURE_BURST + 1 + 10);
    // the sidecar's own budget is one for all, as before
    IdentityResolver sidecar = new IdentityResolver(hash -> Future.succeededFuture(null), now::get);
    for (int i = 0; i < IdentityResolver.FAILURE_BURST; i++) {
      sidecar.resolveKey(OPTIONAL_KEYS, "g" + i, "10.0.0.66");
    }
    assertThat(reason(sidecar.resolveKey(OPTIONAL_KEYS, "g", "10.0.0.7").result()))
        .isEqualTo(IdentityResolver.Reason.TOO_MANY_UNKNOWN_KEYS);
  }
}
