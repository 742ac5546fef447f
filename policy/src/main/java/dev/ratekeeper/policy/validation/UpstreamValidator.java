package dev.ratekeeper.policy.validation;

import dev.ratekeeper.policy.api.AzureDeployment;
import dev.ratekeeper.policy.api.Names;
import dev.ratekeeper.policy.api.SecretKeyRef;
import dev.ratekeeper.policy.api.UnmappedDeployments;
import dev.ratekeeper.policy.api.Upstream;
import dev.ratekeeper.policy.api.UpstreamFormat;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/** Rules of {@code spec.upstreams[]}: route names, base URLs, formats, credentials Secrets and Azure deployments. */
final class UpstreamValidator {
  static final int MAX_UPSTREAMS = 16;
  static final int MAX_URL_LENGTH = 2048;
  /** Route names that would shadow the bare provider paths (/v1/messages, /v1/chat/completions, ...). */
  static final Map<String, String> RESERVED_NAMES = Map.of(
      "v1", "bare provider paths such as /v1/messages start with it",
      "ratekeeper", "the sidecar's own paths such as /ratekeeper/v1/limits start with it");

  static final int MAX_DEPLOYMENTS = 128;
  private static final Pattern DEPLOYMENT_NAME = Pattern.compile(AzureDeployment.NAME_PATTERN);
  private static final String DEPLOYMENT_NAME_RULE = "an Azure deployment name (letters, digits, '.', '_' and '-',"
      + " starting with a letter or digit)";
  private static final Pattern SECRET_KEY = Pattern.compile(Names.SECRET_KEY_PATTERN);
  private static final String SECRET_KEY_RULE = "a valid Secret key (letters, digits, '-', '_' and '.')";
  private static final String URL_RULE = "an http or https URL with a host, e.g. https://api.anthropic.com";

  private UpstreamValidator() {}

  static void validate(List<Upstream> upstreams, Violations v) {
    Map<String, Integer> names = new HashMap<>();
    v.items("spec.upstreams", upstreams, MAX_UPSTREAMS, (upstream, i) -> {
      String path = "spec.upstreams[" + i + "]";
      if (TierValidator.name(path + ".name", upstream.name, v)) {
        Integer first = names.putIfAbsent(upstream.name, i);
        if (first != null) {
          v.add(path + ".name", "duplicate upstream " + Violations.quote(upstream.name)
              + ", already defined at spec.upstreams[" + first + "]");
        } else if (RESERVED_NAMES.containsKey(upstream.name)) {
          v.add(path + ".name", Violations.quote(upstream.name) + " is reserved: "
              + RESERVED_NAMES.get(upstream.name));
        }
      }
      url(path + ".url", upstream.url, v);
      v.required(path + ".format", upstream.format, "anthropic, openai or azure-openai");
      if (upstream.credentialsSecretRef != null) {
        credentials(path + ".credentialsSecretRef", upstream.credentialsSecretRef, v);
      }
      deployments(path, upstream, v);
      if (upstream.outputCapField != null && upstream.format == UpstreamFormat.ANTHROPIC) {
        v.add(path + ".outputCapField", "only openai and azure-openai upstreams have a choice of output cap field");
      }
    });
  }

  /**
   * {@code deployments} and {@code unmappedDeployments} belong to azure-openai upstreams; there, each
   * deployment is named once, by Azure's name rule, and serves a named model (not a glob); and an
   * upstream that maps nothing must say that deployment names are models, or every call is refused.
   */
  private static void deployments(String path, Upstream upstream, Violations v) {
    boolean azure = upstream.format == UpstreamFormat.AZURE_OPENAI;
    if (!azure) {
      if (upstream.deployments != null) {
        v.add(path + ".deployments", "only an azure-openai upstream maps deployments to models");
      }
      if (upstream.unmappedDeployments != null) {
        v.add(path + ".unmappedDeployments", "only an azure-openai upstream has deployments");
      }
      return;
    }
    if ((upstream.deployments == null || upstream.deployments.isEmpty())
        && upstream.unmappedDeployments != UnmappedDeployments.DeploymentNameIsModel) {
      v.add(path + ".deployments", "list the model each deployment serves (or set unmappedDeployments:"
          + " DeploymentNameIsModel); otherwise every call to this upstream is refused");
      return;
    }
    Map<String, Integer> names = new HashMap<>();
    v.items(path + ".deployments", upstream.deployments, MAX_DEPLOYMENTS, (deployment, j) -> {
      String at = path + ".deployments[" + j + "]";
      if (v.requiredText(at + ".name", deployment.name)
          && v.maxLength(at + ".name", deployment.name, AzureDeployment.MAX_NAME_LENGTH)
          && v.matches(at + ".name", deployment.name, DEPLOYMENT_NAME, DEPLOYMENT_NAME_RULE)) {
        Integer first = names.putIfAbsent(deployment.name, j);
        if (first != null) {
          v.add(at + ".name", "duplicate deployment " + Violations.quote(deployment.name) + ", already mapped at "
              + path + ".deployments[" + first + "]");
        }
      }
      if (v.requiredText(at + ".model", deployment.model)
          && v.maxLength(at + ".model", deployment.model, ModelValidator.MAX_NAME_LENGTH)
          && deployment.model.indexOf('*') >= 0) {
        v.add(at + ".model", Violations.quote(deployment.model) + " is a glob; name the one model the deployment serves");
      }
    });
  }

  private static void url(String path, String url, Violations v) {
    if (!v.requiredText(path, url) || !v.maxLength(path, url, MAX_URL_LENGTH)) {
      return;
    }
    URI uri;
    try {
      uri = new URI(url);
    } catch (URISyntaxException e) {
      v.add(path, Violations.quote(url) + " is not " + URL_RULE);
      return;
    }
    String scheme = uri.getScheme();
    if (scheme == null || !(scheme.equals("http") || scheme.equals("https"))
        || uri.getHost() == null || uri.getHost().isEmpty()) {
      v.add(path, Violations.quote(url) + " is not " + URL_RULE);
    } else if (uri.getRawUserInfo() != null) {
      v.add(path, "must not carry credentials; put the provider key in a Secret and name it in credentialsSecretRef");
    } else if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
      v.add(path, "must not have a query or fragment: it is a base URL that request paths are appended to");
    }
  }

  private static void credentials(String path, SecretKeyRef ref, Violations v) {
    IdentityValidator.secretName(path + ".name", ref.name, v);
    if (v.requiredText(path + ".key", ref.key) && v.maxLength(path + ".key", ref.key, 253)) {
      v.matches(path + ".key", ref.key, SECRET_KEY, SECRET_KEY_RULE);
    }
  }
}
