package dev.ratekeeper.sidecar.wire;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ratekeeper.policy.compile.CompiledUpstream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;

/**
 * A metered call's body, parsed once. The sidecar may rewrite it (model fallback, output cap,
 * usage request) before forwarding it with {@link #toBytes()}.
 */
public final class MeteredRequest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Endpoint endpoint;
  private final ObjectNode body;
  private String originalModel;
  /** Azure OpenAI: the deployment the call goes to now, and the model it serves; null elsewhere. */
  private String deployment;
  private String servedModel;
  /** Azure OpenAI: the deployment the client named, where (path or body), and the upstream mapping them. */
  private String originalDeployment;
  private boolean deploymentInPath;
  private CompiledUpstream azure;
  private boolean askForStreamUsage = true;
  /** The field an output cap the request did not name is written into; null: the endpoint's usual one. */
  private String outputCapField;
  private String capField;
  private Long outputCap;
  private final boolean stream;
  private final boolean clientAskedForUsage;
  private final int choices;
  private final List<MeteredRequest> parts;
  private long inputEstimate = -1;
  private boolean injectedUsageRequest;
  private boolean rewritten;

  MeteredRequest(Endpoint endpoint, ObjectNode body, String model, String capField, Long outputCap, boolean stream,
      boolean clientAskedForUsage, int choices) {
    this(endpoint, body, model, capField, outputCap, stream, clientAskedForUsage, choices, List.of());
  }

  private MeteredRequest(Endpoint endpoint, ObjectNode body, String model, String capField, Long outputCap,
      boolean stream, boolean clientAskedForUsage, int choices, List<MeteredRequest> parts) {
    this.choices = choices;
    this.parts = List.copyOf(parts);
    this.endpoint = endpoint;
    this.body = body;
    this.originalModel = model;
    this.capField = capField;
    this.outputCap = outputCap;
    this.stream = stream;
    this.clientAskedForUsage = clientAskedForUsage;
  }

  /** A message batch: its requests ({@link #parts()}) are what admission checks and sums. */
  static MeteredRequest batch(Endpoint endpoint, ObjectNode body, List<MeteredRequest> parts) {
    return new MeteredRequest(endpoint, body, parts.get(0).model(), null, null, false, false, 1, parts);
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
   * proxy calls it off the event loop for those.
   */
  public void estimateInput() {
    if (parts.isEmpty()) {
      inputEstimate = TokenEstimator.estimateInput(endpoint.format(), originalModel, body);
    } else {
      long sum = 0;
      for (MeteredRequest part : parts) {
        part.estimateInput();
        sum += part.inputEstimate;
      }
      inputEstimate = sum;
    }
  }

  /** A request of this batch was rewritten (its output cap set): the batch is forwarded re-serialized. */
  public void markRewritten() {
    rewritten = true;
  }

  public Endpoint endpoint() {
    return endpoint;
  }

  public ObjectNode body() {
    return body;
  }

  /** The model the client asked for (on Azure OpenAI: the one its deployment serves). */
  public String originalModel() {
    return originalModel;
  }

  /** The model the request now names (after a fallback rewrite); on Azure OpenAI, the deployment's model. */
  public String model() {
    if (deployment != null) {
      return servedModel;
    }
    return parts.isEmpty() ? body.path("model").asText() : parts.get(0).model();
  }

  /**
   * Azure OpenAI: the call goes to {@code deployment}, which serves {@code model}; that model, not
   * the body's, governs it (Azure serves the deployment whatever the body says).
   */
  void deployedAs(CompiledUpstream upstream, String deployment, boolean inPath, String model) {
    this.azure = upstream;
    this.deployment = deployment;
    this.originalDeployment = deployment;
    this.deploymentInPath = inPath;
    this.originalModel = model;
    this.servedModel = model;
  }

  /**
   * What the provider's own per-model rate limits count this call on, for cooldowns: the Azure
   * OpenAI deployment (each deployment has a quota of its own), else the model.
   */
  public String quotaName() {
    return deployment != null ? deployment : model();
  }

  /** The Azure OpenAI deployment the call goes to, or null. */
  public String deployment() {
    return deployment;
  }

  /**
   * Whether the call can be sent to {@code model} instead (a fallback): always, but on Azure OpenAI
   * only when a deployment of the upstream serves that model.
   */
  public boolean canServe(String model) {
    return deployment == null || deploymentFor(model) != null;
  }

  private String deploymentFor(String model) {
    return model.equals(originalModel) ? originalDeployment : azure.deploymentOf(model).orElse(null);
  }

  /**
   * The upstream-relative path (query included) to send the call to: {@code routed}, but on Azure
   * OpenAI with the deployment a fallback chose in place of the one the path named.
   */
  public String forwardPath(String routed) {
    if (!deploymentInPath || deployment.equals(originalDeployment)) {
      return routed;
    }
    String from = AzureDeployments.DEPLOYMENTS_PREFIX + originalDeployment + "/";
    if (!routed.startsWith(from)) {
      throw new IllegalStateException("the routed path does not name deployment " + originalDeployment);
    }
    return AzureDeployments.DEPLOYMENTS_PREFIX + deployment + "/" + routed.substring(from.length());
  }

  /** Chat completions through an upstream that names its own output cap field ({@code max_tokens} for strict servers). */
  void writeOutputCapAs(String field) {
    this.outputCapField = field;
  }

  /** Whether {@link #requestStreamUsage()} may add {@code stream_options.include_usage} (the upstream's setting). */
  void askForStreamUsage(boolean ask) {
    this.askForStreamUsage = ask;
  }

  /** The output cap the request names, or null when it names none. */
  public Long outputCap() {
    return outputCap;
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
    return injectedUsageRequest;
  }

  public boolean rewritten() {
    return rewritten;
  }

  /** Sends the call to {@code model} (a fallback); on Azure OpenAI, to the deployment serving it ({@link #canServe}). */
  public void setModel(String model) {
    if (deployment != null) {
      String to = deploymentFor(model);
      if (to == null) {
        throw new IllegalStateException("no deployment of upstream " + azure.name() + " serves " + model);
      }
      deployment = to;
      servedModel = model;
      if (!deploymentInPath) {
        body.put("model", to);
        rewritten = true;
      }
      return;
    }
    body.put("model", model);
    rewritten = true;
  }

  /** Sets the output cap in the field the request used, else the upstream's choice, else the endpoint's usual one. */
  public void setOutputCap(long cap) {
    if (capField == null) {
      capField = outputCapField != null ? outputCapField : endpoint.defaultCapField();
    }
    body.put(capField, cap);
    outputCap = cap;
    rewritten = true;
    JsonNode thinking = body.get("thinking");
    if (thinking instanceof ObjectNode t && t.path("budget_tokens").canConvertToLong()
        && t.path("budget_tokens").asLong() >= cap) {
      // Anthropic requires budget_tokens < max_tokens
      t.put("budget_tokens", Math.max(0, cap - 1));
    }
  }

  /**
   * For streamed OpenAI chat and completions calls: asks for the final usage chunk when the client
   * did not, so the sidecar learns the real usage. The sidecar then hides that chunk. Not for an
   * upstream whose {@code requestStreamUsage} is false (a server that refuses the field).
   */
  public void requestStreamUsage() {
    if (!stream || clientAskedForUsage || !askForStreamUsage
        || (endpoint != Endpoint.OPENAI_CHAT && endpoint != Endpoint.OPENAI_COMPLETIONS)) {
      return;
    }
    JsonNode options = body.get("stream_options");
    ObjectNode opts = options instanceof ObjectNode o ? o : body.putObject("stream_options");
    opts.put("include_usage", true);
    injectedUsageRequest = true;
    rewritten = true;
  }

  public byte[] toBytes() {
    try {
      return JSON.writeValueAsBytes(body);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
