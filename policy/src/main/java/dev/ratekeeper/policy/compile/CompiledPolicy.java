package dev.ratekeeper.policy.compile;

import com.fasterxml.jackson.annotation.JsonIgnore;
import dev.ratekeeper.policy.api.Mode;
import dev.ratekeeper.policy.api.StoreFailureMode;
import dev.ratekeeper.policy.api.UnmeterableEndpoint;
import dev.ratekeeper.policy.api.UnmeteredPaths;
import dev.ratekeeper.policy.api.UpstreamFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The runtime form of a RateLimitPolicy that sidecars execute: defaults applied, integer units
 * (requests, tokens, micro-dollars, milliseconds), models in match order (exact names first, then
 * globs in the order listed). {@code revision} is a hash of everything else but {@code id}, so the
 * same effective policy always has the same revision.
 */
public record CompiledPolicy(
    int schemaVersion,
    PolicyId id,
    String revision,
    Mode mode,
    CompiledIdentity identity,
    String defaultTier,
    long defaultMaxTokens,
    List<CompiledTier> tiers,
    Map<String, String> users,
    List<CompiledModel> models,
    CompiledGlobal global,
    int warnAtPercent,
    boolean clampMaxTokens,
    List<CompiledUpstream> upstreams,
    UnmeteredPaths unmeteredPaths,
    StoreFailureMode onStoreUnavailable,
    List<UnmeterableEndpoint> allowUnmeterable,
    boolean refuseUnpricedModels) {

  public CompiledPolicy {
    allowUnmeterable = allowUnmeterable == null ? List.of() : List.copyOf(allowUnmeterable);
  }

  /**
   * A policy that allows no unmeterable endpoint and refuses unpriced models only under a budget (for
   * derived policies that only limit, not route, and for tests).
   */
  public CompiledPolicy(int schemaVersion, PolicyId id, String revision, Mode mode, CompiledIdentity identity,
      String defaultTier, long defaultMaxTokens, List<CompiledTier> tiers, Map<String, String> users,
      List<CompiledModel> models, CompiledGlobal global, int warnAtPercent, boolean clampMaxTokens,
      List<CompiledUpstream> upstreams, UnmeteredPaths unmeteredPaths, StoreFailureMode onStoreUnavailable) {
    this(schemaVersion, id, revision, mode, identity, defaultTier, defaultMaxTokens, tiers, users, models, global,
        warnAtPercent, clampMaxTokens, upstreams, unmeteredPaths, onStoreUnavailable, List.of(), false);
  }

  /** Whether the policy lets the billed endpoints of {@code group} through (request rates only). */
  public boolean allows(UnmeterableEndpoint group) {
    return allowUnmeterable.contains(group);
  }

  /** The compiled form this code writes and understands. Sidecars refuse other versions and keep their last good one. */
  public static final int SCHEMA_VERSION = 1;

  public Optional<CompiledTier> tier(String name) {
    for (CompiledTier tier : tiers) {
      if (tier.name().equals(name)) {
        return Optional.of(tier);
      }
    }
    return Optional.empty();
  }

  /**
   * The model entry that governs {@code model}: an exact name first, else the first glob that
   * matches; a dated alias ({@link ModelNames}) with no entry of its own falls back to the entry of
   * its undated name.
   */
  public Optional<CompiledModel> model(String model) {
    Optional<CompiledModel> own = entryFor(model);
    if (own.isPresent()) {
      return own;
    }
    String undated = ModelNames.undated(model);
    return undated == null ? Optional.empty() : entryFor(undated);
  }

  private Optional<CompiledModel> entryFor(String model) {
    for (CompiledModel entry : models) {
      if (entry.matches(model)) {
        return Optional.of(entry);
      }
    }
    return Optional.empty();
  }

  public Optional<CompiledUpstream> upstream(String name) {
    return upstreams.stream().filter(u -> u.name().equals(name)).findFirst();
  }

  /** The first upstream of {@code format}, where bare provider paths go. */
  public Optional<CompiledUpstream> firstUpstream(UpstreamFormat format) {
    return upstreams.stream().filter(u -> u.format() == format).findFirst();
  }

  @JsonIgnore
  public boolean shadow() {
    return mode == Mode.Shadow;
  }
}
