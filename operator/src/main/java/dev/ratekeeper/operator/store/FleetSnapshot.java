package dev.ratekeeper.operator.store;

import dev.ratekeeper.operator.status.Heartbeat;
import dev.ratekeeper.operator.status.UsageCounters;
import java.util.List;

/** What the fleet under one policy reported to Redis: sidecar heartbeats and the period's usage counters. */
public record FleetSnapshot(List<Heartbeat> heartbeats, UsageCounters usage) {}
