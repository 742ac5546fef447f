package dev.ratekeeper.operator.webhook;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.fabric8.zjsonpatch.DiffFlags;
import io.fabric8.zjsonpatch.JsonDiff;
import java.util.EnumSet;

/**
 * The RFC 6902 JSON Patch that turns the pod the API server sent into the injected pod, found by
 * diffing the two (never by hand-built paths). Both sides go through the same Fabric8
 * serialization, so the patch holds only what the injector changed. Plain add/replace/remove
 * operations only: no move or copy, which some patch consumers handle poorly.
 */
public final class PodPatch {
  private static final EnumSet<DiffFlags> FLAGS = EnumSet.of(
      DiffFlags.OMIT_MOVE_OPERATION, DiffFlags.OMIT_COPY_OPERATION, DiffFlags.OMIT_VALUE_ON_REMOVE);

  private PodPatch() {}

  public static ArrayNode between(Pod original, Pod mutated, KubernetesSerialization serialization) {
    JsonNode from = serialization.convertValue(original, JsonNode.class);
    JsonNode to = serialization.convertValue(mutated, JsonNode.class);
    return (ArrayNode) JsonDiff.asJson(from, to, FLAGS);
  }
}
