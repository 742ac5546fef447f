package dev.ratekeeper.operator.api;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import dev.ratekeeper.policy.api.RateLimitPolicySpec;
import dev.ratekeeper.policy.api.RateLimitPolicyStatus;
import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Kind;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Singular;
import io.fabric8.kubernetes.model.annotation.Version;

/** The {@code RateLimitPolicy} custom resource; its spec and status live in the policy module. */
@Group(RateLimitPolicy.GROUP)
@Version(RateLimitPolicy.VERSION)
@Kind("RateLimitPolicy")
@Plural("ratelimitpolicies")
@Singular("ratelimitpolicy")
@ShortNames("rlp")
// kubectl get ratekeeper lists them; other projects (Kuadrant) also have a kind named RateLimitPolicy
@Categories("ratekeeper")
@AdditionalPrinterColumn(name = "Accepted", type = AdditionalPrinterColumn.Type.STRING,
    jsonPath = ".status.conditions[?(@.type==\"Accepted\")].status")
@AdditionalPrinterColumn(name = "Enforced", type = AdditionalPrinterColumn.Type.STRING,
    jsonPath = ".status.conditions[?(@.type==\"Enforced\")].status")
@AdditionalPrinterColumn(name = "Sidecars", type = AdditionalPrinterColumn.Type.INTEGER,
    jsonPath = ".status.sidecars.total")
@AdditionalPrinterColumn(name = "Spend", type = AdditionalPrinterColumn.Type.STRING,
    jsonPath = ".status.usage.spendUsd")
@AdditionalPrinterColumn(name = "Age", type = AdditionalPrinterColumn.Type.DATE,
    jsonPath = ".metadata.creationTimestamp")
public class RateLimitPolicy extends CustomResource<RateLimitPolicySpec, RateLimitPolicyStatus> implements Namespaced {
  public static final String GROUP = "ratekeeper.dev";
  public static final String VERSION = "v1alpha1";
  public static final String CRD_NAME = "ratelimitpolicies." + GROUP;

  @Override
  @JsonPropertyDescription("Tiers of end users, per-model quotas and prices, the org-wide provider quota, budgets and"
      + " upstreams that every sidecar under this policy enforces.")
  public RateLimitPolicySpec getSpec() {
    return super.getSpec();
  }

  @Override
  @JsonPropertyDescription("What the operator observed: whether the spec was accepted, how many sidecars enforce it,"
      + " and what the fleet spent this period.")
  public RateLimitPolicyStatus getStatus() {
    return super.getStatus();
  }
}
