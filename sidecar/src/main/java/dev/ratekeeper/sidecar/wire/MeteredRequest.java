package dev.ratekeeper.sidecar.wire;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ratekeeper.policy.api.UnmeterableEndpoint;
import dev.ratekeeper.policy.compile.CompiledUpstream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Locale;

/**
 * A metered call's body, parsed once and never changed. The sidecar's rewrites (model fallback,
 * output cap, usage request) are values: each {@code with...} returns a new request that shares the
 * parsed body and records the edit, and {@link #toBytes()} applies the edits to a copy when the call
 * is forwarded. So a request handed from one stage to the next cannot change under either.
 *
 * <p>What the parser learns about the upstream (an Azure OpenAI deployment, the field an output cap
 * goes into, whether to ask for streamed usage) is set by {@link RequestParser} before the request is
 * handed on, and carried by every edited copy.
 */
public final class MeteredRequest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Endpoint endpoint;
  /** As the client sent it: never modified. */
  private final ObjectNode body;
  private final String capField;
  private final Long askedCap;
  private final boolean stream;
  private final boolean clientAskedForUsage;
  private final int choices;
  private final List<MeteredRequest> parts;
  private final Edits edits;
  /** The input estimate, computed once ({@link #estimateInput()}); -1 until then. */
  private volatile long inputEstimate = -1;
  // set by the parser only, before the request is handed on
  private String originalModel;
  /** Azure OpenAI: the upstream mapping deployments, the deployment the client named and where (path or body). */
  private CompiledUpstream azure;
  private String originalDeployment;
  private boolean deploymentInPath;
  private boolean askForStreamUsage = true;
  /** A billed part of the call Ratekeeper cannot meter (Azure's {@code data_sources}); null: none. */
  private UnmeterableEndpoint unmeterable;
  /** The field an output cap the request did not name is written into; null: the endpoint's usual one. */
  private String outputCapField;

  /** The sidecar's rewrites: null / false where the client's body stands. */
  private record Edits(String model, Long outputCap, boolean streamUsage, boolean partsEdited) {
    static final Edits NONE = new Edits(null, null, false, false);
  }

  MeteredRequest(Endpoint endpoint, ObjectNode body, String model, String capField, Long outputCap, boolean stream,
      boolean clientAskedForUsage, int choices) {
    this(endpoint, body, model, capField, outputCap, stream, clientAskedForUsage, choices, List.of(), Edits.NONE);
  }

  private MeteredRequest(Endpoint endpoint, ObjectNode body, String model, String capField, Long outputCap,
      boolean stream, boolean clientAskedForUsage, int choices, List<MeteredRequest> parts, Edits edits) {
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
  }

  private MeteredRequest with(Edits next, List<MeteredRequest> nextParts) {
    MeteredRequest copy = new MeteredRequest(endpoint, body, originalModel, capField, askedCap, stream,
        clientAskedForUsage, choices, nextParts, next);
    copy.inputEstimate = inputEstimate;
    copy.azure = azure;
    copy.originalDeployment = originalDeployment;
    copy.deploymentInPath = deploymentInPath;
    copy.askForStreamUsage = askForStreamUsage;
    copy.unmeterable = unmeterable;
    copy.outputCapField = outputCapField;
    return copy;
  }

  /** A message batch: its requests ({@link #parts()}) are what admission checks and sums. */
  static MeteredRequest batch(Endpoint endpoint, ObjectNode body, List<MeteredRequest> parts) {
    return new MeteredRequest(endpoint, body, parts.get(0).model(), null, null, false, false, 1, parts, Edits.NONE);
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

  /** The model the client asked for (on Azure OpenAI: the one its deployment serves). */
  public String originalModel() {
    return originalModel;
  }

  /** The model the request now names (after a fallback rewrite); on Azure OpenAI, the deployment's model. */
  public String model() {
    if (!parts.isEmpty()) {
      return parts.get(0).model();
    }
    if (edits.model() != null) {
      return edits.model();
    }
    return originalModel != null ? originalModel : body.path("model").asText();
  }

  /**
   * Azure OpenAI: the call goes to {@code deployment}, which serves {@code model}; that model, not
   * the body's, governs it (Azure serves the deployment whatever the body says).
   */
  void deployedAs(CompiledUpstream upstream, String deployment, boolean inPath, String model) {
    this.azure = upstream;
    this.originalDeployment = deployment;
    this.deploymentInPath = inPath;
    this.originalModel = model;
  }

  /**
   * What the provider's own per-model rate limits count this call on, for cooldowns: the Azure
   * OpenAI deployment in lower case (each deployment has a quota of its own; Azure ignores the
   * case of its name), else the model.
   */
  public String quotaName() {
    String deployment = deployment();
    return deployment != null ? deployment.toLowerCase(Locale.ROOT) : model();
  }

  /** The Azure OpenAI deployment the call goes to (after a fallback: the one serving its model), or null. */
  public String deployment() {
    if (originalDeployment == null || edits.model() == null) {
      return originalDeployment;
    }
    return deploymentFor(edits.model());
  }

  /**
   * Whether the call can be sent to {@code model} instead (a fallback): always, but on Azure OpenAI
   * only when a deployment of the upstream serves that model.
   */
  public boolean canServe(String model) {
    return originalDeployment == null || deploymentFor(model) != null;
  }

  private String deploymentFor(String model) {
    return model.equals(originalModel) ? originalDeployment : azure.deploymentOf(model).orElse(null);
  }

  /**
   * The upstream-relative path (query included) to send the call to: {@code routed}, but on Azure
   * OpenAI with the deployment a fallback chose in place of the one the path named.
   */
  public String forwardPath(String routed) {
    String deployment = deployment();
    if (!deploymentInPath || deployment.equals(originalDeployment)) {
      return routed;
    }
    String from = AzureDeployments.DEPLOYMENTS_PREFIX + originalDeployment + "/";
    if (!routed.startsWith(from)) {
      throw new IllegalStateException("the routed path does not name deployment " + originalDeployment);
    }
    return AzureDeployments.DEPLOYMENTS_PREFIX + deployment + "/" + routed.substring(from.length());
  }

  /**
   * The group of a billed part of the call Ratekeeper cannot meter, refused unless the policy allows
   * it ({@code allowUnmeterable}): {@code OnYourData} for an Azure OpenAI body carrying
   * {@code data_sources}; null when the call has none.
   */
  public UnmeterableEndpoint unmeterable() {
    return unmeterable;
  }

  void carries(UnmeterableEndpoint group) {
    this.unmeterable = group;
  }

  /** Chat completions through an upstream that names its own output cap field ({@code max_tokens} for strict servers). */
  void writeOutputCapAs(String field) {
    this.outputCapField = field;
  }

  /** Whether {@link #withStreamUsage()} may add {@code stream_options.include_usage} (the upstream's setting). */
  void askForStreamUsage(boolean ask) {
    this.askForStreamUsage = ask;
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

  /** Whether the sidecar changed the body: then the call is forwarded re-serialized. */
  public boolean rewritten() {
    boolean modelInBody = edits.model() != null && !(originalDeployment != null && deploymentInPath);
    return modelInBody || edits.outputCap() != null || edits.streamUsage() || edits.partsEdited();
  }

  /**
   * This request sent to {@code model} instead (a fallback); on Azure OpenAI, to the deployment
   * serving it, which must exist ({@link #canServe}).
   */
  public MeteredRequest withModel(String model) {
    if (!canServe(model)) {
      throw new IllegalStateException("no deployment of upstream " + azure.name() + " serves " + model);
    }
    return with(new Edits(model, edits.outputCap(), edits.streamUsage(), edits.partsEdited()), parts);
  }

  /**
   * This request with the output cap {@code cap}, in the field the request used, else the upstream's
   * choice, else the endpoint's usual one (Anthropic's {@code thinking.budget_tokens} is lowered below
   * it when serialized).
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
   * did not, so the sidecar learns the real usage (and hides that chunk). Not for an upstream whose
   * {@code requestStreamUsage} is false (a server that refuses the field). Otherwise this request.
   */
  public MeteredRequest withStreamUsage() {
    if (!stream || clientAskedForUsage || !askForStreamUsage
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
      if (originalDeployment == null) {
        out.put("model", edits.model());
      } else if (!deploymentInPath) {
        out.put("model", deployment()); // Azure OpenAI: the body names the deployment
      }
    }
    if (edits.outputCap() != null) {
      long cap = edits.outputCap();
      out.put(capField != null ? capField : outputCapField != null ? outputCapField : endpoint.defaultCapField(), cap);
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
