package dev.ratekeeper.sidecar.wire;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ratekeeper.policy.api.UnmeterableEndpoint;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Parses a metered call's body once and reads what admission needs. Bad input is a value, not an
 * exception. Strict, so the sidecar and the provider cannot read one body two ways: anything after
 * the object is malformed JSON, a member named twice is refused ({@code STRICT_DUPLICATE_DETECTION}:
 * parsers differ on which one wins), and nesting deeper than {@value #MAX_DEPTH} is refused.
 */
public final class RequestParser {
  static final int MAX_DEPTH = 128;
  /** Anthropic's own limit on the requests of one message batch. */
  static final int MAX_BATCH_REQUESTS = 100_000;
  /** OpenAI's own limit on {@code n}. */
  static final int MAX_CHOICES = 128;
  private static final ObjectMapper JSON = new ObjectMapper(JsonFactory.builder()
      .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_DEPTH).build())
      .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .build())
      .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
  private static final String[] CAP_FIELDS = {"max_tokens", "max_completion_tokens", "max_output_tokens"};

  private RequestParser() {}

  /** Either a request or the 400 to answer. */
  public sealed interface Result permits Parsed, Invalid {}

  public record Parsed(MeteredRequest request) implements Result {}

  public record Invalid(ProviderError error) implements Result {}

  /** A call to an upstream that maps no deployments and asks for streamed usage (OpenAI, Anthropic). */
  public static Result parse(Endpoint endpoint, byte[] bytes) {
    return parse(null, endpoint, bytes);
  }

  /**
   * A call through {@code target}: on Azure OpenAI the model that governs it is the one its
   * deployment serves (a deployment the policy does not map is a 404), and the body's {@code model}
   * is required only where it names the deployment.
   */
  public static Result parse(AzureDeployments.Target target, Endpoint endpoint, byte[] bytes) {
    return parse(target, endpoint, () -> JSON.createParser(bytes));
  }

  /**
   * As {@link #parse(AzureDeployments.Target, Endpoint, byte[])}, reading the body from {@code body}
   * as the parser goes (into the parser's own recycled buffer): no copy of the whole body is made.
   */
  public static Result parse(AzureDeployments.Target target, Endpoint endpoint, InputStream body) {
    return parse(target, endpoint, () -> JSON.createParser(body));
  }

  /** Opens the parser over a body. */
  private interface Source {
    JsonParser open() throws IOException;
  }

  private static Result parse(AzureDeployments.Target target, Endpoint endpoint, Source source) {
    JsonNode root;
    try (JsonParser parser = source.open()) {
      root = JSON.readTree(parser);
      if (root != null && parser.nextToken() != null) {
        return invalid("request body is not valid JSON: trailing content after the object");
      }
    } catch (JsonProcessingException e) {
      return invalid("request body is not valid JSON: " + e.getOriginalMessage());
    } catch (IOException e) {
      return invalid("request body could not be read: " + e.getMessage());
    }
    if (!(root instanceof ObjectNode body)) {
      return invalid("request body must be a JSON object");
    }
    if (endpoint.batch()) {
      return batch(endpoint, body);
    }
    Result call = call(endpoint, body, "", target != null && target.pathDeployment() != null);
    if (call instanceof Parsed parsed && target != null) {
      return bind(target, parsed.request());
    }
    return call;
  }

  /**
   * Binds a parsed call to its upstream: the deployment's model on Azure (and whether the body asks
   * for "On Your Data", {@code data_sources}), whether to ask for streamed usage, and which field an
   * output cap goes into.
   */
  private static Result bind(AzureDeployments.Target target, MeteredRequest request) {
    request.askForStreamUsage(target.upstream().asksForStreamUsage());
    if (request.endpoint() == Endpoint.OPENAI_CHAT) {
      request.writeOutputCapAs(target.upstream().outputCapField());
    }
    if (!target.azure()) {
      return new Parsed(request);
    }
    if (request.body().has(AzureDeployments.DATA_SOURCES)) {
      request.carries(UnmeterableEndpoint.OnYourData);
    }
    String deployment = target.pathDeployment() != null ? target.pathDeployment() : request.body().path("model").asText();
    return target.upstream().modelOf(deployment)
        .<Result>map(model -> {
          request.deployedAs(target.upstream(), deployment, target.pathDeployment() != null, model);
          return new Parsed(request);
        })
        .orElseGet(() -> new Invalid(AzureDeployments.notMapped(target.upstream(), deployment)));
  }

  /** An Anthropic message batch: each {@code requests[i].params} is read as a message call. */
  private static Result batch(Endpoint endpoint, ObjectNode body) {
    if (!(body.get("requests") instanceof ArrayNode requests) || requests.isEmpty()) {
      return invalid("requests: field required (a non-empty array)");
    }
    if (requests.size() > MAX_BATCH_REQUESTS) {
      return invalid("requests: at most " + MAX_BATCH_REQUESTS + " in one batch, got " + requests.size());
    }
    List<MeteredRequest> parts = new ArrayList<>(requests.size());
    for (int i = 0; i < requests.size(); i++) {
      JsonNode params = requests.get(i).path("params");
      if (!(params instanceof ObjectNode call)) {
        return invalid("requests[" + i + "].params: field required (an object)");
      }
      Result part = call(Endpoint.ANTHROPIC_MESSAGES, call, "requests[" + i + "].params.", false);
      if (part instanceof Invalid) {
        return part;
      }
      parts.add(((Parsed) part).request());
    }
    return new Parsed(MeteredRequest.batch(endpoint, body, parts));
  }

  /** {@code modelOptional}: the path names what serves the call (an Azure deployment), so {@code model} may be absent. */
  private static Result call(Endpoint endpoint, ObjectNode body, String at, boolean modelOptional) {
    JsonNode model = body.get("model");
    boolean absent = model == null || model.isNull();
    if (!(absent && modelOptional) && (absent || !model.isTextual() || model.textValue().isBlank())) {
      return invalid(at + "model: field required (a non-empty string)");
    }
    String capField = null;
    Long cap = null;
    for (String field : CAP_FIELDS) {
      JsonNode value = body.get(field);
      if (value == null || value.isNull()) {
        continue;
      }
      if (!positiveLong(value)) {
        return invalid(at + field + ": must be a positive integer");
      }
      if (capField == null) {
        capField = field;
        cap = value.asLong();
      } else {
        cap = Math.max(cap, value.asLong());
      }
    }
    int choices = 1;
    if (endpoint == Endpoint.OPENAI_CHAT || endpoint == Endpoint.OPENAI_COMPLETIONS) {
      // n answers (completions: best_of generated, n returned) are each up to the cap, and billed
      for (String field : new String[] {"n", "best_of"}) {
        JsonNode value = body.get(field);
        if (value == null || value.isNull()) {
          continue;
        }
        if (!positiveLong(value) || value.asLong() > MAX_CHOICES) {
          return invalid(at + field + ": must be an integer from 1 to " + MAX_CHOICES);
        }
        choices = Math.max(choices, value.asInt());
      }
    }
    JsonNode stream = body.get("stream");
    if (stream != null && !stream.isNull() && !stream.isBoolean()) {
      return invalid(at + "stream: must be a boolean");
    }
    JsonNode options = body.get("stream_options");
    boolean askedUsage = options != null && options.path("include_usage").asBoolean(false);
    return new Parsed(new MeteredRequest(endpoint, body, absent ? null : model.textValue(), capField, cap,
        stream != null && stream.asBoolean(false), askedUsage, choices));
  }

  private static boolean positiveLong(JsonNode value) {
    return value.canConvertToLong() && value.isIntegralNumber() && value.asLong() >= 1;
  }

  private static Invalid invalid(String message) {
    return new Invalid(ProviderError.of(ProviderError.Kind.INVALID_REQUEST, message));
  }
}
