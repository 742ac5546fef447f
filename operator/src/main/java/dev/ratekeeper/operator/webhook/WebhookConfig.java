package dev.ratekeeper.operator.webhook;

import dev.ratekeeper.operator.webhook.inject.InjectionSettings;
import dev.ratekeeper.operator.webhook.inject.MissingPolicyAction;
import dev.ratekeeper.operator.webhook.inject.SidecarInjector;
import dev.ratekeeper.operator.webhook.inject.SidecarMode;
import dev.ratekeeper.cli.Command;
import dev.ratekeeper.cli.ConfigException;
import dev.ratekeeper.cli.HostPort;
import dev.ratekeeper.cli.Inputs;
import dev.ratekeeper.cli.RedisEndpoint;
import dev.ratekeeper.cli.Setting;
import io.fabric8.kubernetes.api.model.Quantity;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The sidecar-injection webhook's settings, read from environment variables ({@link #ENV_HELP})
 * with the rules every program follows ({@link Inputs}). Parsing collects every problem so a bad
 * start names them all at once.
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

  static final Setting ENABLED = Setting.variable("RATEKEEPER_WEBHOOK_ENABLED", "run the webhook: true | false, default false");
  static final Setting LISTEN = Setting.variable("RATEKEEPER_WEBHOOK_LISTEN", "HTTPS address, default " + DEFAULT_LISTEN);
  static final Setting SERVICE = Setting.variable("RATEKEEPER_WEBHOOK_SERVICE",
      "Service in front of the webhook, default " + DEFAULT_SERVICE);
  static final Setting NAMESPACE = Setting.variable("RATEKEEPER_WEBHOOK_NAMESPACE",
      "its namespace, default $POD_NAMESPACE (required)");
  static final Setting SECRET = Setting.variable("RATEKEEPER_WEBHOOK_SECRET",
      "TLS Secret (CA + serving certificate), default " + DEFAULT_SECRET);
  static final Setting CONFIG_NAME = Setting.variable("RATEKEEPER_WEBHOOK_CONFIG_NAME",
      "MutatingWebhookConfiguration to keep the caBundle of, default " + DEFAULT_CONFIG_NAME);
  static final Setting DNS_NAMES = Setting.variable("RATEKEEPER_WEBHOOK_DNS_NAMES",
      "more certificate DNS names, comma-separated");
  static final Setting CA_VALIDITY = Setting.variable("RATEKEEPER_WEBHOOK_CA_VALIDITY", "default 87600h (10 years)");
  static final Setting CERT_VALIDITY = Setting.variable("RATEKEEPER_WEBHOOK_CERT_VALIDITY", "default 8760h (1 year)");
  static final Setting RENEW_BEFORE = Setting.variable("RATEKEEPER_WEBHOOK_RENEW_BEFORE", "default 720h (30 days)");
  static final Setting CHECK_INTERVAL = Setting.variable("RATEKEEPER_WEBHOOK_CHECK_INTERVAL",
      "Secret and caBundle check, default 1m");
  static final Setting SIDECAR_IMAGE = Setting.variable("RATEKEEPER_SIDECAR_IMAGE",
      "default " + InjectionSettings.DEFAULT_IMAGE);
  static final Setting SIDECAR_PULL_POLICY = Setting.variable("RATEKEEPER_SIDECAR_IMAGE_PULL_POLICY",
      "IfNotPresent | Always | Never, default IfNotPresent");
  static final Setting SIDECAR_MODE = Setting.variable("RATEKEEPER_SIDECAR_MODE", "Native | Container, default Native");
  static final Setting ON_MISSING_POLICY = Setting.variable("RATEKEEPER_ON_MISSING_POLICY",
      "Refuse | AdmitUninjected, default Refuse");
  static final Setting SIDECAR_REDIS_URL = Setting.variable("RATEKEEPER_SIDECAR_REDIS_URL",
      "Redis of the sidecars, default $" + RedisEndpoint.URL.env() + " (required, reachable from app pods,"
          + " no password in it)");
  static final Setting SIDECAR_REDIS_SECRET = Setting.variable("RATEKEEPER_SIDECAR_REDIS_SECRET",
      "Secret with the Redis password, in each app namespace; default none");
  static final Setting SIDECAR_REDIS_SECRET_KEY = Setting.variable("RATEKEEPER_SIDECAR_REDIS_SECRET_KEY",
      "its key, default password");
  static final Setting SIDECAR_REDIS_MODE = Setting.variable("RATEKEEPER_SIDECAR_REDIS_MODE",
      "standalone | cluster | sentinel, default standalone (cluster, sentinel: the URL is a comma-separated list)");
  static final Setting SIDECAR_REDIS_MASTER_NAME = Setting.variable("RATEKEEPER_SIDECAR_REDIS_MASTER_NAME",
      "sentinel: the master's name");
  static final Setting SIDECAR_REDIS_USER_SECRET = Setting.variable("RATEKEEPER_SIDECAR_REDIS_USER_SECRET",
      "Secret with the Redis ACL user, in each app namespace (per-namespace users); default none: the default user");
  static final Setting SIDECAR_REDIS_USER_SECRET_KEY = Setting.variable("RATEKEEPER_SIDECAR_REDIS_USER_SECRET_KEY",
      "its key, default user");
  static final Setting SIDECAR_REDIS_CA_CONFIGMAP = Setting.variable("RATEKEEPER_SIDECAR_REDIS_CA_CONFIGMAP",
      "ConfigMap with the CA Redis' certificate is checked against, in each app namespace, mounted at "
          + InjectionSettings.RedisAccess.CA_MOUNT + "; default none: the JVM's trust store");
  static final Setting SIDECAR_REDIS_CA_CONFIGMAP_KEY = Setting.variable("RATEKEEPER_SIDECAR_REDIS_CA_CONFIGMAP_KEY",
      "its key, default ca.crt");
  static final Setting SIDECAR_REDIS_CLIENT_SECRET = Setting.variable("RATEKEEPER_SIDECAR_REDIS_CLIENT_SECRET",
      "kubernetes.io/tls Secret with the client certificate Redis asks for, in each app namespace, mounted at "
          + InjectionSettings.RedisAccess.CLIENT_CERT_MOUNT + "; default none");
  static final Setting SIDECAR_REDIS_VERIFY_HOSTNAME = Setting.variable("RATEKEEPER_SIDECAR_REDIS_VERIFY_HOSTNAME",
      "false: the sidecars do not check that Redis' certificate names the host; default true");
  static final Setting SIDECAR_CPU_REQUEST = Setting.variable("RATEKEEPER_SIDECAR_CPU_REQUEST",
      "default " + InjectionSettings.DEFAULT_CPU_REQUEST + " (\"\" for none)");
  static final Setting SIDECAR_MEMORY_REQUEST = Setting.variable("RATEKEEPER_SIDECAR_MEMORY_REQUEST",
      "default " + InjectionSettings.DEFAULT_MEMORY_REQUEST + " (\"\" for none)");
  static final Setting SIDECAR_CPU_LIMIT = Setting.variable("RATEKEEPER_SIDECAR_CPU_LIMIT", "default none");
  static final Setting SIDECAR_MEMORY_LIMIT = Setting.variable("RATEKEEPER_SIDECAR_MEMORY_LIMIT",
      "default " + InjectionSettings.DEFAULT_MEMORY_LIMIT + " (\"\" for none)");
  static final Setting SIDECAR_JAVA_OPTIONS = Setting.variable("RATEKEEPER_SIDECAR_JAVA_OPTIONS",
      "JAVA_TOOL_OPTIONS of the sidecar (\"\" for none), default " + InjectionSettings.DEFAULT_JAVA_OPTIONS);
  static final Setting GATEWAY_URL = Setting.variable("RATEKEEPER_GATEWAY_URL",
      "the shared gateway, http://host:port, for pods labelled ratekeeper.dev/inject=gateway; default none");
  static final String POD_NAMESPACE = "POD_NAMESPACE";

  /** The webhook's settings: environment variables only, read by the shared {@link Inputs}. */
  static final Command COMMAND = Command.named("ratekeeper-operator webhook", "ratekeeper-operator")
      .add(ENABLED, LISTEN, SERVICE, NAMESPACE, SECRET, CONFIG_NAME, DNS_NAMES, CA_VALIDITY, CERT_VALIDITY,
          RENEW_BEFORE, CHECK_INTERVAL, SIDECAR_IMAGE, SIDECAR_PULL_POLICY, SIDECAR_MODE, ON_MISSING_POLICY,
          SIDECAR_REDIS_URL, SIDECAR_REDIS_SECRET, SIDECAR_REDIS_SECRET_KEY, SIDECAR_REDIS_MODE,
          SIDECAR_REDIS_MASTER_NAME, SIDECAR_REDIS_USER_SECRET, SIDECAR_REDIS_USER_SECRET_KEY,
          SIDECAR_REDIS_CA_CONFIGMAP, SIDECAR_REDIS_CA_CONFIGMAP_KEY, SIDECAR_REDIS_CLIENT_SECRET,
          SIDECAR_REDIS_VERIFY_HOSTNAME, SIDECAR_CPU_REQUEST,
          SIDECAR_MEMORY_REQUEST, SIDECAR_CPU_LIMIT, SIDECAR_MEMORY_LIMIT, SIDECAR_JAVA_OPTIONS, GATEWAY_URL);

  /** The webhook's part of the operator's {@code --help}. */
  public static final String ENV_HELP = "Sidecar-injection webhook (environment variables):\n" + COMMAND.variablesHelp();

  private static final Pattern DNS_NAME = Pattern.compile(
      "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$");
  private static final Set<String> PULL_POLICIES = Set.of("IfNotPresent", "Always", "Never");

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
    Inputs in = Inputs.fromEnv(env);
    boolean enabled = in.bool(ENABLED, false);
    if (!enabled) {
      in.check();
      return disabled();
    }
    HostPort listen = in.hostPort(LISTEN, DEFAULT_LISTEN);
    String service = name(in, SERVICE, in.text(SERVICE, DEFAULT_SERVICE));
    String namespace = in.text(NAMESPACE, in.env(POD_NAMESPACE));
    if (namespace == null) {
      in.problem(NAMESPACE, "required (the namespace of the webhook's Service and Secret);"
          + " or set POD_NAMESPACE from the downward API");
    } else {
      namespace = name(in, NAMESPACE, namespace);
    }
    String secret = name(in, SECRET, in.text(SECRET, DEFAULT_SECRET));
    String configName = name(in, CONFIG_NAME, in.text(CONFIG_NAME, DEFAULT_CONFIG_NAME));
    List<String> extra = new ArrayList<>();
    for (String name : in.list(DNS_NAMES)) {
      if (DNS_NAME.matcher(name).matches() && name.length() <= 253) {
        extra.add(name);
      } else {
        in.problem(DNS_NAMES, "\"" + name + "\" is not a DNS name");
      }
    }
    Duration caValidity = in.duration(CA_VALIDITY, DEFAULT_CA_VALIDITY);
    Duration certValidity = in.duration(CERT_VALIDITY, DEFAULT_CERT_VALIDITY);
    Duration renewBefore = in.duration(RENEW_BEFORE, DEFAULT_RENEW_BEFORE);
    Duration checkInterval = in.duration(CHECK_INTERVAL, DEFAULT_CHECK_INTERVAL);
    if (renewBefore.compareTo(certValidity) >= 0) {
      in.problem(RENEW_BEFORE.env() + " must be shorter than " + CERT_VALIDITY.env() + ", or every check would renew");
    }
    if (certValidity.compareTo(caValidity) > 0) {
      in.problem(CERT_VALIDITY.env() + " must not be longer than " + CA_VALIDITY.env());
    }

    InjectionSettings injection = injection(in);
    in.check();
    return new WebhookConfig(true, listen.toSocketAddress(), service, namespace, secret, configName, extra,
        caValidity, certValidity, renewBefore, checkInterval, injection);
  }

  /** The webhook's part of the operator's help. */
  public static String envHelp() {
    return ENV_HELP;
  }

  private static InjectionSettings injection(Inputs in) {
    String image = in.text(SIDECAR_IMAGE, InjectionSettings.DEFAULT_IMAGE);
    String pull = in.text(SIDECAR_PULL_POLICY, InjectionSettings.DEFAULT_PULL_POLICY);
    if (!PULL_POLICIES.contains(pull)) {
      in.problem(SIDECAR_PULL_POLICY, "expected IfNotPresent, Always or Never, got \"" + pull + "\"");
    }
    SidecarMode mode = in.choice(SIDECAR_MODE, SidecarMode.class, SidecarMode.Native);
    MissingPolicyAction onMissing = in.choice(ON_MISSING_POLICY, MissingPolicyAction.class, MissingPolicyAction.Refuse);
    String redis = in.text(SIDECAR_REDIS_URL, in.env(RedisEndpoint.URL.env()));
    RedisEndpoint.Mode redisMode = in.choice(SIDECAR_REDIS_MODE, RedisEndpoint.Mode.class, RedisEndpoint.Mode.STANDALONE);
    String masterName = in.text(SIDECAR_REDIS_MASTER_NAME);
    if (redis == null) {
      in.problem(SIDECAR_REDIS_URL, "required (the Redis every sidecar shares, as app pods reach it)");
    } else {
      String problem = sidecarRedisProblem(redis, redisMode, masterName);
      if (problem != null) {
        in.problem(SIDECAR_REDIS_URL, problem);
      }
    }
    String redisSecret = in.text(SIDECAR_REDIS_SECRET);
    InjectionSettings.SecretKey password = redisSecret == null ? null : new InjectionSettings.SecretKey(
        name(in, SIDECAR_REDIS_SECRET, redisSecret), in.text(SIDECAR_REDIS_SECRET_KEY, "password"));
    String userSecret = in.text(SIDECAR_REDIS_USER_SECRET);
    String caConfigMap = in.text(SIDECAR_REDIS_CA_CONFIGMAP);
    String clientSecret = in.text(SIDECAR_REDIS_CLIENT_SECRET);
    InjectionSettings.RedisAccess access = new InjectionSettings.RedisAccess(
        redisMode == RedisEndpoint.Mode.STANDALONE ? null : redisMode.name().toLowerCase(java.util.Locale.ROOT),
        redisMode == RedisEndpoint.Mode.SENTINEL ? masterName : null,
        userSecret == null ? null : new InjectionSettings.SecretKey(name(in, SIDECAR_REDIS_USER_SECRET, userSecret),
            in.text(SIDECAR_REDIS_USER_SECRET_KEY, "user")),
        caConfigMap == null ? null : name(in, SIDECAR_REDIS_CA_CONFIGMAP, caConfigMap),
        caConfigMap == null ? null : in.text(SIDECAR_REDIS_CA_CONFIGMAP_KEY, "ca.crt"),
        in.bool(SIDECAR_REDIS_VERIFY_HOSTNAME, true),
        clientSecret == null ? null : name(in, SIDECAR_REDIS_CLIENT_SECRET, clientSecret));
    return new InjectionSettings(image, pull, mode, onMissing, redis == null ? "" : redis, password,
        quantity(in, SIDECAR_CPU_REQUEST, InjectionSettings.DEFAULT_CPU_REQUEST),
        quantity(in, SIDECAR_MEMORY_REQUEST, InjectionSettings.DEFAULT_MEMORY_REQUEST),
        quantity(in, SIDECAR_CPU_LIMIT, null),
        quantity(in, SIDECAR_MEMORY_LIMIT, InjectionSettings.DEFAULT_MEMORY_LIMIT),
        in.textOrNone(SIDECAR_JAVA_OPTIONS, InjectionSettings.DEFAULT_JAVA_OPTIONS), access, null)
        .withGatewayUrl(gatewayUrl(in));
  }

  private static String gatewayUrl(Inputs in) {
    String url = in.text(GATEWAY_URL);
    if (url != null && !SidecarInjector.isGatewayUrl(url)) {
      in.problem(GATEWAY_URL, "expected http(s)://host[:port][/path], got \"" + url + "\"");
    }
    return url == null ? null : url.replaceFirst("/+$", "");
  }

  /** Null when app pods can use this Redis URL, else why not (the URL is never quoted with a password). */
  static String sidecarRedisProblem(String url) {
    return sidecarRedisProblem(url, RedisEndpoint.Mode.STANDALONE, null);
  }

  /** As {@link #sidecarRedisProblem(String)}, for the comma-separated URLs of a Cluster or Sentinel. */
  static String sidecarRedisProblem(String url, RedisEndpoint.Mode mode, String masterName) {
    RedisEndpoint endpoint;
    try {
      endpoint = RedisEndpoint.parse(mode, java.util.List.of(url.split(",")), masterName, null, null);
    } catch (IllegalArgumentException e) {
      return e.getMessage();
    }
    if (endpoint.passwordInUrl()) {
      return "must not carry a password (it would be written into every pod spec);"
          + " put it in a Secret and set RATEKEEPER_SIDECAR_REDIS_SECRET";
    }
    if (endpoint.loopback()) {
      return "\"" + endpoint.host() + "\" would be each app pod itself; use an address app pods reach, such as"
          + " redis://redis.ratekeeper.svc:6379";
    }
    return null;
  }

  /** {@code value}, with a problem recorded when it is no Kubernetes name. */
  private static String name(Inputs in, Setting setting, String value) {
    if (!DNS_NAME.matcher(value).matches() || value.length() > 253) {
      in.problem(setting, "\"" + value + "\" is not a valid Kubernetes name");
    }
    return value;
  }

  /** A Kubernetes quantity such as 50m or 128Mi; a variable set to "" means none. */
  private static String quantity(Inputs in, Setting setting, String fallback) {
    String v = in.textOrNone(setting, fallback);
    if (v != null) {
      try {
        Quantity.getAmountInBytes(new Quantity(v));
      } catch (RuntimeException ex) {
        in.problem(setting, "\"" + v + "\" is not a Kubernetes quantity such as 50m or 128Mi");
      }
    }
    return v;
  }
}
