package dev.ratekeeper.operator.webhook;

import dev.ratekeeper.operator.webhook.inject.InjectionSettings;
import dev.ratekeeper.operator.webhook.inject.MissingPolicyAction;
import dev.ratekeeper.operator.webhook.inject.SidecarMode;
import dev.ratekeeper.policy.api.Durations;
import io.fabric8.kubernetes.api.model.Quantity;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The sidecar-injection webhook's settings, read from environment variables ({@link #ENV_HELP}).
 * Parsing collects every problem so a bad start names them all at once.
 *
 * @param enabled whether the operator runs the webhook at all
 * @param listen HTTPS address
 * @param serviceName the Service in front of the webhook (its DNS names go into the certificate)
 * @param namespace the namespace of that Service and of the TLS Secret
 * @param secretName the TLS Secret holding the CA and serving certificate
 * @param webhookConfigName the MutatingWebhookConfiguration whose caBundle is kept up to date
 * @param extraDnsNames more names for the serving certificate
 * @param caValidity lifetime of a CA the webhook issues
 * @param certValidity lifetime of a serving certificate
 * @param renewBefore renew a certificate (or CA) when less than this is left
 * @param checkInterval how often the Secret and caBundle are checked
 * @param injection what the injected sidecars look like
 */
public record WebhookConfig(
    boolean enabled,
    InetSocketAddress listen,
    String serviceName,
    String namespace,
    String secretName,
    String webhookConfigName,
    List<String> extraDnsNames,
    Duration caValidity,
    Duration certValidity,
    Duration renewBefore,
    Duration checkInterval,
    InjectionSettings injection) {

  public static final String DEFAULT_LISTEN = "0.0.0.0:9443";
  public static final String DEFAULT_SERVICE = "ratekeeper-webhook";
  public static final String DEFAULT_SECRET = "ratekeeper-webhook-tls";
  public static final String DEFAULT_CONFIG_NAME = "ratekeeper-sidecar-injector";
  public static final Duration DEFAULT_CA_VALIDITY = Duration.ofDays(3650);
  public static final Duration DEFAULT_CERT_VALIDITY = Duration.ofDays(365);
  public static final Duration DEFAULT_RENEW_BEFORE = Duration.ofDays(30);
  public static final Duration DEFAULT_CHECK_INTERVAL = Duration.ofMinutes(1);

  public static final String ENV_HELP = """
      Sidecar-injection webhook (environment variables):
        RATEKEEPER_WEBHOOK_ENABLED           run the webhook: true | false, default false
        RATEKEEPER_WEBHOOK_LISTEN            HTTPS address, default 0.0.0.0:9443
        RATEKEEPER_WEBHOOK_SERVICE           Service in front of the webhook, default ratekeeper-webhook
        RATEKEEPER_WEBHOOK_NAMESPACE         its namespace, default $POD_NAMESPACE (required)
        RATEKEEPER_WEBHOOK_SECRET            TLS Secret (CA + serving certificate), default ratekeeper-webhook-tls
        RATEKEEPER_WEBHOOK_CONFIG_NAME       MutatingWebhookConfiguration to keep the caBundle of,
                                             default ratekeeper-sidecar-injector
        RATEKEEPER_WEBHOOK_DNS_NAMES         more certificate DNS names, comma-separated
        RATEKEEPER_WEBHOOK_CA_VALIDITY       default 87600h (10 years)
        RATEKEEPER_WEBHOOK_CERT_VALIDITY     default 8760h (1 year)
        RATEKEEPER_WEBHOOK_RENEW_BEFORE      default 720h (30 days)
        RATEKEEPER_WEBHOOK_CHECK_INTERVAL    Secret and caBundle check, default 1m
        RATEKEEPER_SIDECAR_IMAGE             default %s
        RATEKEEPER_SIDECAR_IMAGE_PULL_POLICY IfNotPresent | Always | Never, default IfNotPresent
        RATEKEEPER_SIDECAR_MODE              Native | Container, default Native
        RATEKEEPER_ON_MISSING_POLICY         Refuse | AdmitUninjected, default Refuse
        RATEKEEPER_SIDECAR_REDIS_URL         Redis of the sidecars, default $RATEKEEPER_REDIS_URL (required,
                                             reachable from app pods, no password in it)
        RATEKEEPER_SIDECAR_REDIS_SECRET      Secret with the Redis password, in each app namespace; default none
        RATEKEEPER_SIDECAR_REDIS_SECRET_KEY  its key, default password
        RATEKEEPER_SIDECAR_CPU_REQUEST       default 50m ("" for none)
        RATEKEEPER_SIDECAR_MEMORY_REQUEST    default 96Mi ("" for none)
        RATEKEEPER_SIDECAR_CPU_LIMIT         default none
        RATEKEEPER_SIDECAR_MEMORY_LIMIT      default 192Mi ("" for none)
        RATEKEEPER_SIDECAR_JAVA_OPTIONS      JAVA_TOOL_OPTIONS of the sidecar, default
                                             %s
      """.formatted(InjectionSettings.DEFAULT_IMAGE, InjectionSettings.DEFAULT_JAVA_OPTIONS);

  private static final Pattern DNS_NAME = Pattern.compile(
      "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$");
  private static final Set<String> PULL_POLICIES = Set.of("IfNotPresent", "Always", "Never");

  /** Parsing failed; {@link #problems()} lists every one. */
  public static final class ConfigException extends Exception {
    private final List<String> problems;

    public ConfigException(List<String> problems) {
      super(String.join("\n", problems));
      this.problems = List.copyOf(problems);
    }

    public List<String> problems() {
      return problems;
    }
  }

  public WebhookConfig {
    extraDnsNames = List.copyOf(extraDnsNames);
  }

  /** A config saying only that the webhook does not run. */
  public static WebhookConfig disabled() {
    return new WebhookConfig(false, new InetSocketAddress(9443), DEFAULT_SERVICE, null, DEFAULT_SECRET,
        DEFAULT_CONFIG_NAME, List.of(), DEFAULT_CA_VALIDITY, DEFAULT_CERT_VALIDITY, DEFAULT_RENEW_BEFORE,
        DEFAULT_CHECK_INTERVAL, null);
  }

  /** The serving certificate's DNS names: the Service's two cluster names, then the extra ones. */
  public List<String> dnsNames() {
    Set<String> names = new LinkedHashSet<>();
    names.add(serviceName + "." + namespace + ".svc");
    names.add(serviceName + "." + namespace + ".svc.cluster.local");
    names.addAll(extraDnsNames);
    return List.copyOf(names);
  }

  /**
   * Reads the settings. With the webhook disabled only the enable switch is read (and
   * {@link #disabled()} returned): settings that are never used cannot stop the operator.
   */
  public static WebhookConfig fromEnv(Map<String, String> env) throws ConfigException {
    List<String> problems = new ArrayList<>();
    Env e = new Env(env, problems);
    boolean enabled = e.bool("RATEKEEPER_WEBHOOK_ENABLED", false);
    if (!enabled) {
      if (!problems.isEmpty()) {
        throw new ConfigException(problems);
      }
      return disabled();
    }
    InetSocketAddress listen = e.address("RATEKEEPER_WEBHOOK_LISTEN", DEFAULT_LISTEN);
    String service = e.name("RATEKEEPER_WEBHOOK_SERVICE", DEFAULT_SERVICE);
    String namespace = e.get("RATEKEEPER_WEBHOOK_NAMESPACE", e.get("POD_NAMESPACE", null));
    if (namespace == null) {
      problems.add("RATEKEEPER_WEBHOOK_NAMESPACE: required (the namespace of the webhook's Service and Secret);"
          + " or set POD_NAMESPACE from the downward API");
    } else {
      namespace = e.checkName("RATEKEEPER_WEBHOOK_NAMESPACE", namespace);
    }
    String secret = e.name("RATEKEEPER_WEBHOOK_SECRET", DEFAULT_SECRET);
    String configName = e.name("RATEKEEPER_WEBHOOK_CONFIG_NAME", DEFAULT_CONFIG_NAME);
    List<String> extra = new ArrayList<>();
    for (String name : e.list("RATEKEEPER_WEBHOOK_DNS_NAMES")) {
      if (DNS_NAME.matcher(name).matches() && name.length() <= 253) {
        extra.add(name);
      } else {
        problems.add("RATEKEEPER_WEBHOOK_DNS_NAMES: \"" + name + "\" is not a DNS name");
      }
    }
    Duration caValidity = e.duration("RATEKEEPER_WEBHOOK_CA_VALIDITY", DEFAULT_CA_VALIDITY);
    Duration certValidity = e.duration("RATEKEEPER_WEBHOOK_CERT_VALIDITY", DEFAULT_CERT_VALIDITY);
    Duration renewBefore = e.duration("RATEKEEPER_WEBHOOK_RENEW_BEFORE", DEFAULT_RENEW_BEFORE);
    Duration checkInterval = e.duration("RATEKEEPER_WEBHOOK_CHECK_INTERVAL", DEFAULT_CHECK_INTERVAL);
    if (renewBefore.compareTo(certValidity) >= 0) {
      problems.add("RATEKEEPER_WEBHOOK_RENEW_BEFORE must be shorter than RATEKEEPER_WEBHOOK_CERT_VALIDITY,"
          + " or every check would renew");
    }
    if (certValidity.compareTo(caValidity) > 0) {
      problems.add("RATEKEEPER_WEBHOOK_CERT_VALIDITY must not be longer than RATEKEEPER_WEBHOOK_CA_VALIDITY");
    }
    if (checkInterval.isZero()) {
      problems.add("RATEKEEPER_WEBHOOK_CHECK_INTERVAL must be more than 0s");
    }

    InjectionSettings injection = injection(e, problems);
    if (!problems.isEmpty()) {
      throw new ConfigException(problems);
    }
    return new WebhookConfig(true, listen, service, namespace, secret, configName, extra, caValidity, certValidity,
        renewBefore, checkInterval, injection);
  }

  private static InjectionSettings injection(Env e, List<String> problems) {
    String image = e.get("RATEKEEPER_SIDECAR_IMAGE", InjectionSettings.DEFAULT_IMAGE);
    String pull = e.get("RATEKEEPER_SIDECAR_IMAGE_PULL_POLICY", InjectionSettings.DEFAULT_PULL_POLICY);
    if (!PULL_POLICIES.contains(pull)) {
      problems.add("RATEKEEPER_SIDECAR_IMAGE_PULL_POLICY: expected IfNotPresent, Always or Never, got \"" + pull + "\"");
    }
    SidecarMode mode = e.choice("RATEKEEPER_SIDECAR_MODE", SidecarMode.class, SidecarMode.Native);
    MissingPolicyAction onMissing = e.choice("RATEKEEPER_ON_MISSING_POLICY", MissingPolicyAction.class,
        MissingPolicyAction.Refuse);
    String redis = e.get("RATEKEEPER_SIDECAR_REDIS_URL", e.get("RATEKEEPER_REDIS_URL", null));
    if (redis == null) {
      problems.add("RATEKEEPER_SIDECAR_REDIS_URL: required (the Redis every sidecar shares, as app pods reach it)");
    } else {
      String problem = sidecarRedisProblem(redis);
      if (problem != null) {
        problems.add("RATEKEEPER_SIDECAR_REDIS_URL: " + problem);
      }
    }
    String redisSecret = e.get("RATEKEEPER_SIDECAR_REDIS_SECRET", null);
    InjectionSettings.SecretKey password = redisSecret == null ? null : new InjectionSettings.SecretKey(
        e.checkName("RATEKEEPER_SIDECAR_REDIS_SECRET", redisSecret),
        e.get("RATEKEEPER_SIDECAR_REDIS_SECRET_KEY", "password"));
    return new InjectionSettings(image, pull, mode, onMissing, redis == null ? "" : redis, password,
        e.quantity("RATEKEEPER_SIDECAR_CPU_REQUEST", InjectionSettings.DEFAULT_CPU_REQUEST),
        e.quantity("RATEKEEPER_SIDECAR_MEMORY_REQUEST", InjectionSettings.DEFAULT_MEMORY_REQUEST),
        e.quantity("RATEKEEPER_SIDECAR_CPU_LIMIT", null),
        e.quantity("RATEKEEPER_SIDECAR_MEMORY_LIMIT", InjectionSettings.DEFAULT_MEMORY_LIMIT),
        e.raw("RATEKEEPER_SIDECAR_JAVA_OPTIONS", InjectionSettings.DEFAULT_JAVA_OPTIONS));
  }

  /** Null when app pods can use this Redis URL, else why not. */
  static String sidecarRedisProblem(String url) {
    URI uri;
    try {
      uri = new URI(url);
    } catch (URISyntaxException ex) {
      return "\"" + url + "\" is not a URL";
    }
    if (!"redis".equals(uri.getScheme()) && !"rediss".equals(uri.getScheme()) || uri.getHost() == null) {
      return "expected redis://host:port or rediss://host:port";
    }
    if (uri.getRawUserInfo() != null && uri.getRawUserInfo().contains(":")) {
      return "must not carry a password (it would be written into every pod spec);"
          + " put it in a Secret and set RATEKEEPER_SIDECAR_REDIS_SECRET";
    }
    String host = uri.getHost();
    if (host.equals("localhost") || host.startsWith("127.") || host.equals("[::1]") || host.equals("::1")) {
      return "\"" + host + "\" would be each app pod itself; use an address app pods reach, such as"
          + " redis://redis.ratekeeper.svc:6379";
    }
    return null;
  }

  /** Reads variables and records problems. Unset and blank read as absent. */
  private record Env(Map<String, String> env, List<String> problems) {
    String get(String name, String fallback) {
      String v = env.get(name);
      return v == null || v.isBlank() ? fallback : v.strip();
    }

    /** Like {@link #get}, but a variable set to "" means "none" rather than "the default". */
    String raw(String name, String fallback) {
      String v = env.get(name);
      return v == null ? fallback : v.isBlank() ? null : v.strip();
    }

    boolean bool(String name, boolean fallback) {
      String v = get(name, null);
      if (v == null) {
        return fallback;
      }
      return switch (v.toLowerCase(Locale.ROOT)) {
        case "true" -> true;
        case "false" -> false;
        default -> {
          problems.add(name + ": expected true or false, got \"" + v + "\"");
          yield fallback;
        }
      };
    }

    String name(String name, String fallback) {
      return checkName(name, get(name, fallback));
    }

    String checkName(String name, String value) {
      if (!DNS_NAME.matcher(value).matches() || value.length() > 253) {
        problems.add(name + ": \"" + value + "\" is not a valid Kubernetes name");
      }
      return value;
    }

    List<String> list(String name) {
      String v = get(name, null);
      return v == null ? List.of()
          : Arrays.stream(v.split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList();
    }

    InetSocketAddress address(String name, String fallback) {
      String v = get(name, fallback);
      int colon = v.lastIndexOf(':');
      try {
        int port = Integer.parseInt(v.substring(colon + 1));
        if (colon <= 0 || port < 0 || port > 65535) {
          throw new NumberFormatException();
        }
        return new InetSocketAddress(v.substring(0, colon), port);
      } catch (NumberFormatException | StringIndexOutOfBoundsException ex) {
        problems.add(name + ": expected HOST:PORT, got \"" + v + "\"");
        return new InetSocketAddress(0);
      }
    }

    Duration duration(String name, Duration fallback) {
      String v = get(name, null);
      if (v == null) {
        return fallback;
      }
      return Durations.parseMillis(v).map(Duration::ofMillis).orElseGet(() -> {
        problems.add(name + ": expected a duration such as 30s, 10m or 720h, got \"" + v + "\"");
        return fallback;
      });
    }

    <E extends Enum<E>> E choice(String name, Class<E> type, E fallback) {
      String v = get(name, null);
      if (v == null) {
        return fallback;
      }
      for (E option : type.getEnumConstants()) {
        if (option.name().equalsIgnoreCase(v)) {
          return option;
        }
      }
      problems.add(name + ": expected one of " + Arrays.toString(type.getEnumConstants()) + ", got \"" + v + "\"");
      return fallback;
    }

    String quantity(String name, String fallback) {
      String v = raw(name, fallback);
      if (v != null) {
        try {
          Quantity.getAmountInBytes(new Quantity(v));
        } catch (RuntimeException ex) {
          problems.add(name + ": \"" + v + "\" is not a Kubernetes quantity such as 50m or 128Mi");
        }
      }
      return v;
    }
  }
}
