package dev.ratekeeper.operator.query;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsExchange;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import dev.ratekeeper.operator.store.StoreUnavailableException;
import dev.ratekeeper.operator.webhook.tls.CertificateIssuer;
import dev.ratekeeper.operator.webhook.tls.KeyAndCertificate;
import dev.ratekeeper.operator.webhook.tls.ReloadableKeyManager;
import dev.ratekeeper.policy.compile.PolicyId;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.security.cert.Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The aggregated API {@code query.ratekeeper.dev/v1alpha1} behind {@code kubectl ratekeeper}: HTTPS
 * (the JDK's own server) that only the Kubernetes API server can call as someone, read-only, and
 * answering per policy only what the caller may {@code get}:
 *
 * <ol>
 *   <li>the API server authenticates the caller (any method kubectl supports) and forwards the request
 *       with its front-proxy client certificate and {@code X-Remote-User} / {@code X-Remote-Group};
 *   <li>{@link FrontProxyTrust} believes those headers only over a front-proxy certificate;
 *   <li>{@link PolicyAccess} asks the API server (SubjectAccessReview) whether that caller may
 *       {@code get} the policy; 403 otherwise.
 * </ol>
 *
 * Serves a self-issued certificate (the APIService skips verifying it; docs/kubectl-plugin.md says
 * why). Never reads or returns API keys: users are named by id only.
 */
public final class QueryServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(QueryServer.class);
  /** Namespaces and policy names are DNS names; anything else cannot name a policy. */
  private static final Pattern DNS_NAME = Pattern.compile("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?");
  static final int MAX_PARAM = 256;
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private final FrontProxyTrust trust;
  private final PolicyAccess access;
  private final LimitsExplainer explainer;
  private final FleetView fleet;
  private final HttpsServer server;
  private final ExecutorService executor;

  private QueryServer(InetSocketAddress listen, FrontProxyTrust trust, PolicyAccess access, LimitsExplainer explainer,
      FleetView fleet, List<String> dnsNames) throws IOException {
    this.trust = trust;
    this.access = access;
    this.explainer = explainer;
    this.fleet = fleet;
    SSLContext context;
    try {
      CertificateIssuer issuer = new CertificateIssuer();
      Instant now = Instant.now();
      KeyAndCertificate ca = issuer.newCa("ratekeeper-query-ca", now, Duration.ofDays(3650));
      ReloadableKeyManager keys = new ReloadableKeyManager(issuer.serving(ca, dnsNames, now, Duration.ofDays(3650)));
      context = SSLContext.getInstance("TLS");
      context.init(new KeyManager[] {keys}, trust.trustManagers(), new SecureRandom());
    } catch (GeneralSecurityException e) {
      throw new IOException("cannot set up TLS for the query API: " + e.getMessage(), e);
    }
    this.executor = Executors.newFixedThreadPool(4, r -> {
      Thread t = new Thread(r, "query-https");
      t.setDaemon(true);
      return t;
    });
    this.server = HttpsServer.create(listen, 64);
    server.setHttpsConfigurator(new HttpsConfigurator(context) {
      @Override
      public void configure(HttpsParameters params) {
        javax.net.ssl.SSLParameters ssl = getSSLContext().getDefaultSSLParameters();
        // want, not need: the API server's availability probe of discovery may come without one
        ssl.setWantClientAuth(true);
        params.setSSLParameters(ssl);
      }
    });
    server.setExecutor(executor);
    server.createContext("/", this::handle);
    server.start();
    LOG.info("query API {} listening on https://{}", QueryApi.API_VERSION, server.getAddress());
  }

  /**
   * Starts serving on {@code listen}; {@code dnsNames} go into the self-issued certificate (the
   * Service's names).
   */
  public static QueryServer start(InetSocketAddress listen, FrontProxyTrust trust, PolicyAccess access,
      LimitsExplainer explainer, FleetView fleet, List<String> dnsNames) throws IOException {
    return new QueryServer(listen, trust, access, explainer, fleet, dnsNames);
  }

  public int port() {
    return server.getAddress().getPort();
  }

  private void handle(HttpExchange exchange) throws IOException {
    // closed in finally, not by try-with-resources: the error responses below are written after the try
    try {
      String path = exchange.getRequestURI().getRawPath();
      if (!"GET".equals(exchange.getRequestMethod())) {
        status(exchange, 405, "MethodNotAllowed", QueryApi.API_VERSION + " is read-only: GET only");
        return;
      }
      if (path.equals(QueryApi.ROOT) || path.equals(QueryApi.ROOT + "/")) {
        write(exchange, 200, discovery());
        return;
      }
      String prefix = QueryApi.ROOT + "/namespaces/";
      String[] parts = path.startsWith(prefix) ? path.substring(prefix.length()).split("/", -1) : new String[0];
      if (parts.length != 4 || !QueryApi.POLICY_RESOURCE.equals(parts[1])) {
        status(exchange, 404, "NotFound", "no such path; see " + QueryApi.ROOT);
        return;
      }
      String namespace = parts[0];
      String name = parts[2];
      String view = parts[3];
      if (!DNS_NAME.matcher(namespace).matches() || !DNS_NAME.matcher(name).matches()) {
        status(exchange, 400, "BadRequest", "namespace and policy name must be DNS names");
        return;
      }
      if (!List.of(QueryApi.EXPLAIN, QueryApi.TOP, QueryApi.ENFORCEMENT).contains(view)) {
        status(exchange, 404, "NotFound", "no view \"" + view + "\"; there are explain, top and enforcement");
        return;
      }
      Optional<Caller> caller = caller(exchange);
      if (caller.isEmpty()) {
        status(exchange, 401, "Unauthorized", "only the Kubernetes API server may call this API, on behalf of a user");
        return;
      }
      if (!access.mayGet(caller.get(), namespace, name)) {
        status(exchange, 403, "Forbidden", "ratelimitpolicies.ratekeeper.dev \"" + name + "\" is forbidden: user \""
            + caller.get().user() + "\" cannot get ratelimitpolicies in the namespace \"" + namespace + "\"");
        return;
      }
      PolicyId id = new PolicyId(namespace, name);
      Map<String, String> query = query(exchange.getRequestURI().getRawQuery());
      Object answer = switch (view) {
        case QueryApi.EXPLAIN -> {
          String user = query.get("user");
          if (user == null || user.isBlank()) {
            status(exchange, 400, "BadRequest", "explain needs ?user=<end-user id>");
            yield null;
          }
          yield explainer.explain(id, user.strip(), blankToNull(query.get("tier")), blankToNull(query.get("model")),
              blankToNull(query.get("run")));
        }
        case QueryApi.TOP -> fleet.top(id);
        default -> fleet.enforcement(id);
      };
      if (answer != null) {
        write(exchange, 200, answer);
      }
    } catch (LimitsExplainer.ExplainException e) {
      status(exchange, e.status(), e.status() == 404 ? "NotFound" : "BadRequest", e.getMessage());
    } catch (IllegalArgumentException e) {
      status(exchange, 400, "BadRequest", e.getMessage());
    } catch (StoreUnavailableException e) {
      status(exchange, 503, "ServiceUnavailable", "the rate-limit store is unavailable: " + e.getMessage());
    } catch (RuntimeException e) {
      LOG.warn("query {} failed", exchange.getRequestURI().getRawPath(), e);
      status(exchange, 500, "InternalError", "the operator could not answer: " + e.getMessage());
    } finally {
      exchange.close();
    }
  }

  private Optional<Caller> caller(HttpExchange exchange) {
    if (!(exchange instanceof HttpsExchange https)) {
      return Optional.empty();
    }
    Certificate[] peer;
    try {
      peer = https.getSSLSession().getPeerCertificates();
    } catch (SSLPeerUnverifiedException e) {
      return Optional.empty();
    }
    return trust.caller(peer, exchange.getRequestHeaders());
  }

  private static Map<String, Object> discovery() {
    List<Map<String, Object>> resources = List.of(QueryApi.EXPLAIN, QueryApi.TOP, QueryApi.ENFORCEMENT).stream()
        .map(view -> {
          Map<String, Object> r = new LinkedHashMap<>();
          r.put("name", QueryApi.POLICY_RESOURCE + "/" + view);
          r.put("singularName", "");
          r.put("namespaced", true);
          r.put("kind", switch (view) {
            case QueryApi.EXPLAIN -> Explanation.KIND;
            case QueryApi.TOP -> FleetView.TOP_KIND;
            default -> FleetView.ENFORCEMENT_KIND;
          });
          r.put("verbs", List.of("get"));
          return r;
        }).toList();
    Map<String, Object> list = new LinkedHashMap<>();
    list.put("kind", "APIResourceList");
    list.put("apiVersion", "v1");
    list.put("groupVersion", QueryApi.API_VERSION);
    list.put("resources", resources);
    return list;
  }

  /** Query parameters; each value capped, the first of repeated ones kept. */
  static Map<String, String> query(String raw) {
    Map<String, String> params = new LinkedHashMap<>();
    if (raw == null || raw.isEmpty()) {
      return params;
    }
    String[] pairs = raw.split("&", 32);
    for (String pair : pairs) {
      int eq = pair.indexOf('=');
      String key = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
      String value = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
      if (value.length() > MAX_PARAM) {
        throw new IllegalArgumentException("query parameter " + key + " is longer than " + MAX_PARAM + " characters");
      }
      params.putIfAbsent(key, value);
    }
    return params;
  }

  private static String blankToNull(String value) {
    return value == null || value.isBlank() ? null : value.strip();
  }

  /** A Kubernetes {@code Status}, as the API server's own errors look (kubectl prints its message). */
  private static void status(HttpExchange exchange, int code, String reason, String message) throws IOException {
    Map<String, Object> status = new LinkedHashMap<>();
    status.put("kind", "Status");
    status.put("apiVersion", "v1");
    status.put("status", "Failure");
    status.put("message", message);
    status.put("reason", reason);
    status.put("code", code);
    write(exchange, code, status);
  }

  private static void write(HttpExchange exchange, int code, Object body) throws IOException {
    byte[] bytes = JSON.writeValueAsBytes(body);
    exchange.getResponseHeaders().set("content-type", "application/json");
    exchange.getResponseHeaders().set("cache-control", "no-store");
    exchange.sendResponseHeaders(code, bytes.length);
    exchange.getResponseBody().write(bytes);
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }
}
