package dev.ratekeeper.sidecar.wire;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;

/**
 * A metered call's body, parsed once and never changed. The sidecar's rewrites (model fallback,
 * output cap, usage request) are values: each {@code with...} returns a new request that shares the
 * parsed body and records the edit, and {@link #toBytes()} applies the edits to a copy when the call
 * is forwarded. So a request handed from one stage to the next cannot change under either.
 */
public final class MeteredRequest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Endpoint endpoint;
  /** As the client sent it: never modified. */
  private final ObjectNode body;
  private final String originalModel;
  private final String capField;
  private final Long askedCap;
  private final boolean stream;
  private final boolean clientAskedForUsage;
  private final int choices;
  private final List<MeteredRequest> parts;
  private final Edits edits;
  /** The input estimate, computed once ({@link #estimateInput()}); -1 until then. */
  private volatile long inputEstimate = -1;

  /** The sidecar's rewrites: null / false where the client's body stands. */
  private record Edits(String model, Long outputCap, boolean streamUsage, boolean partsEdited) {
    static final Edits NONE = new Edits(null, null, false, false);

    boolean any() {
      return model != null || outputCap != null || streamUsage || partsEdited;
    }
  }

  MeteredRequest(Endpoint endpoint, ObjectNode body, String model, String capField, Long outputCap, boolean stream,
      boolean clientAskedForUsage, int choices) {
    this(endpoint, body, model, capField, outputCap, stream, clientAskedForUsage, choices, List.of(), Edits.NONE, -1);
  }

  private MeteredRequest(Endpoint endpoint, ObjectNode body, String model, String capField, Long outputCap,
      boolean stream, boolean clientAskedForUsage, int choices, List<MeteredRequest> parts, Edits edits,
      long inputEstimate) {
    this.choices = choices;
    this.parts = List.copyOf(parts);
    this.endpoint = endpoint;
    this.body = body;
    this.originalModel = model;
    this.capField = capField;
    this.askedCap = outputCap;
    this.stream = stream;
    this.clientAskedForUsage = clientAskedForUsage;
    this.edits = edits;
    this.inputEstimate = inputEstimate;
  }

  private MeteredRequest with(Edits next, List<MeteredRequest> nextParts) {
    return new MeteredRequest(endpoint, body, originalModel, capField, askedCap, stream, clientAskedForUsage, choices,
        nextParts, next, inputEstimate);
  }

  /** A message batch: its requests ({@link #parts()}) are what admission checks and sums. */
  static MeteredRequest batch(Endpoint endpoint, ObjectNode body, List<MeteredRequest> parts) {
    return new MeteredRequest(endpoint, body, parts.get(0).model(), null, null, false, false, 1, parts, Edits.NONE,
        -1);
  }

  /** The requests of a batch, in order; empty for a single call. */
  public List<MeteredRequest> parts() {
    return parts;
  }

  /** How many answers the call generates and is billed for ({@code n}, {@code best_of}); 1 by default. */
  public int choices() {
    return choices;
  }

  /** Estimated input tokens (for a batch: of all its requests); see {@link #estimateInput()}. */
  public long inputEstimate() {
    if (inputEstimate < 0) {
      estimateInput();
    }
    return inputEstimate;
  }

  /**
   * Estimates the input once ({@link TokenEstimator}); may take a while on large bodies, so the
   * proxy calls it off the event loop for those. Edits do not change it (they touch no input).
   */
  public void estimateInput() {
    if (inputEstimate >= 0) {
      return;
    }
    if (parts.isEmpty()) {
      inputEstimate = TokenEstimator.estimateInput(endpoint.format(), originalModel, body);
    } else {
      long sum = 0;
      for (MeteredRequest part : parts) {
        sum += part.inputEstimate();
      }
      inputEstimate = sum;
    }
  }

  public Endpoint endpoint() {
    return endpoint;
  }

  /** The body as the client sent it (read only: the sidecar's edits are not in it). */
  public ObjectNode body() {
    return body;
  }

  /** The model the client asked for. */
  public String originalModel() {
    return originalModel;
  }

  /** The model the request now names (after a fallback rewrite). */
  public String model() {
    if (!parts.isEmpty()) {
      return parts.get(0).model();
    }
    return edits.model() != null ? edits.model() : originalModel;
  }

  /** The output cap the request names (after a rewrite), or null when it names none. */
  public Long outputCap() {
    return edits.outputCap() != null ? edits.outputCap() : askedCap;
  }

  public boolean stream() {
    return stream;
  }

  /** Whether the client itself asked for the streamed usage chunk ({@code stream_options.include_usage}). */
  public boolean clientAskedForUsage() {
    return clientAskedForUsage;
  }

  /** Whether the sidecar asked for the usage chunk and must hide it from the client. */
  public boolean injectedUsageRequest() {
    return edits.streamUsage();
  }

  /** Whether the sidecar changed anything: then the call is forwarded re-serialized. */
  public boolean rewritten() {
    return edits.any();
  }

  /** This request naming {@code model} instead. */
  public MeteredRequest withModel(String model) {
    return with(new Edits(model, edits.outputCap(), edits.streamUsage(), edits.partsEdited()), parts);
  }

  /**
   * This request with the output cap {@code cap}, in the field the request used or the endpoint's
   * usual one (Anthropic's {@code thinking.budget_tokens} is lowered below it when serialized).
   */
  public MeteredRequest withOutputCap(long cap) {
    return with(new Edits(edits.model(), cap, edits.streamUsage(), edits.partsEdited()), parts);
  }

  /** This batch with its requests replaced by (edited) {@code parts}, in the same order. */
  public MeteredRequest withParts(List<MeteredRequest> edited) {
    if (edited.size() != parts.size()) {
      throw new IllegalArgumentException("a batch keeps its " + parts.size() + " requests");
    }
    boolean changed = edited.stream().anyMatch(MeteredRequest::rewritten);
    return with(new Edits(edits.model(), edits.outputCap(), edits.streamUsage(), changed), edited);
  }

  /**
   * For streamed OpenAI chat and completions calls: asks for the final usage chunk when the client
   * did not, so the sidecar learns the real usage (and hides that chunk). Otherwise this request.
   */
  public MeteredRequest withStreamUsage() {
    if (!stream || clientAskedForUsage
        || (endpoint != Endpoint.OPENAI_CHAT && endpoint != Endpoint.OPENAI_COMPLETIONS)) {
      return this;
    }
    return with(new Edits(edits.model(), edits.outputCap(), true, edits.partsEdited()), parts);
  }

  /** The body to forward: the client's bytes re-serialized with the sidecar's edits applied to a copy. */
  public byte[] toBytes() {
    ObjectNode out = rewritten() ? body.deepCopy() : body;
    applyEdits(out);
    try {
      return JSON.writeValueAsBytes(out);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private void applyEdits(ObjectNode out) {
    if (edits.model() != null) {
      out.put("model", edits.model());
    }
    if (edits.outputCap() != null) {
      long cap = edits.outputCap();
      out.put(capField != null ? capField : endpoint.defaultCapField(), cap);
      JsonNode thinking = out.get("thinking");
      if (thinking instanceof ObjectNode t && t.path("budget_tokens").canConvertToLong()
          && t.path("budget_tokens").asLong() >= cap) {
        // Anthropic requires budget_tokens < max_tokens
        t.put("budget_tokens", Math.max(0, cap - 1));
      }
    }
    if (edits.streamUsage()) {
      JsonNode options = out.get("stream_options");
      ObjectNode opts = options instanceof ObjectNode o ? o : out.putObject("stream_options");
      opts.put("include_usage", true);
    }
    if (edits.partsEdited()) {
      JsonNode requests = out.path("requests");
      for (int i = 0; i < parts.size(); i++) {
        if (parts.get(i).rewritten() && requests.path(i).path("params") instanceof ObjectNode params) {
          parts.get(i).applyEdits(params);
        }
      }
    }
  }
}
