package dev.ratekeeper.operator.api;

import io.fabric8.crdv2.generator.CRDGenerator;
import io.fabric8.crdv2.generator.CRDPostProcessor;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import java.io.File;
import java.util.ArrayList;
import java.util.List;

/**
 * Build step (exec-maven-plugin, process-classes), not part of the operator at run time: generates
 * the RateLimitPolicy CRD with Fabric8's CRD generator, as its Maven plugin would, plus what its
 * annotations cannot say: {@code status.conditions} is a list map keyed by {@code type}
 * ({@code x-kubernetes-list-type: map}), so server-side apply merges conditions one by one.
 *
 * <p>Usage: {@code CrdGeneration <output directory>}.
 */
public final class CrdGeneration {
  private CrdGeneration() {}

  public static void main(String[] args) {
    File output = new File(args[0]);
    if (!output.isDirectory() && !output.mkdirs()) {
      throw new IllegalStateException("cannot create " + output);
    }
    int written = new CRDGenerator().inOutputDir(output).forCRDVersions("v1").withParallelGenerationEnabled(false)
        .withPostProcessor(new ConditionsListMap()).customResourceClasses(RateLimitPolicy.class).generate();
    if (written != 1) {
      throw new IllegalStateException("expected one CRD, generated " + written);
    }
  }

  /** {@code status.conditions}: x-kubernetes-list-type map, keyed by the required {@code type}. */
  static final class ConditionsListMap implements CRDPostProcessor {
    @Override
    public HasMetadata process(HasMetadata crd, String version) {
      for (var v : ((CustomResourceDefinition) crd).getSpec().getVersions()) {
        JSONSchemaProps conditions = v.getSchema().getOpenAPIV3Schema().getProperties().get("status")
            .getProperties().get("conditions");
        conditions.setXKubernetesListType("map");
        conditions.setXKubernetesListMapKeys(List.of("type"));
        JSONSchemaProps item = conditions.getItems().getSchema();
        List<String> required = new ArrayList<>(item.getRequired() == null ? List.of() : item.getRequired());
        if (!required.contains("type")) {
          required.add("type");
        }
        item.setRequired(required);
      }
      return crd;
    }
  }
}
