package dev.ratekeeper.operator.query;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.Headers;
import dev.ratekeeper.operator.webhook.tls.Pem;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.security.auth.x500.X500Principal;

/**
 * Trusts the Kubernetes API server's front proxy, as every aggregated API server does: a request
 * counts as the API server's only when its TLS client certificate chains to the request-header CA
 * and names one of the allowed common names; only then are the user and group headers
 * ({@code X-Remote-User}, {@code X-Remote-Group}) believed. The CA, the names and the header names
 * come from the ConfigMap {@code kube-system/extension-apiserver-authentication}, which the API
 * server publishes from its {@code --requestheader-*} flags (reading it needs the Role
 * {@code extension-apiserver-authentication-reader} in kube-system).
 *
 * @param cas the request-header client CAs
 * @param allowedNames common names a front-proxy certificate may have; empty = any name the CA signed
 */
public record FrontProxyTrust(List<X509Certificate> cas, List<String> allowedNames, List<String> userHeaders,
    List<String> groupHeaders) {
  public static final String CONFIG_MAP_NAMESPACE = "kube-system";
  public static final String CONFIG_MAP = "extension-apiserver-authentication";
  private static final ObjectMapper JSON = new ObjectMapper();

  public FrontProxyTrust {
    cas = List.copyOf(cas);
    allowedNames = List.copyOf(allowedNames);
    userHeaders = List.copyOf(userHeaders);
    groupHeaders = List.copyOf(groupHeaders);
    if (cas.isEmpty()) {
      throw new IllegalArgumentException("no request-header client CA");
    }
  }

  /** Reads the API server's published request-header settings; fails when it publishes none. */
  public static FrontProxyTrust fromCluster(KubernetesClient client) {
    ConfigMap map = client.configMaps().inNamespace(CONFIG_MAP_NAMESPACE).withName(CONFIG_MAP).get();
    if (map == null || map.getData() == null || map.getData().get("requestheader-client-ca-file") == null) {
      throw new IllegalStateException(CONFIG_MAP_NAMESPACE + "/" + CONFIG_MAP + " has no requestheader-client-ca-file:"
          + " the API server runs without --requestheader-client-ca-file, so it cannot forward callers to"
          + " aggregated APIs");
    }
    return fromData(map.getData());
  }

  static FrontProxyTrust fromData(Map<String, String> data) {
    try {
      return new FrontProxyTrust(Pem.certificates(data.get("requestheader-client-ca-file")),
          list(data.get("requestheader-allowed-names")), list(data.get("requestheader-username-headers")),
          list(data.get("requestheader-group-headers")));
    } catch (IOException e) {
      throw new IllegalStateException("cannot read the request-header CA: " + e.getMessage(), e);
    }
  }

  private static List<String> list(String json) throws IOException {
    return json == null || json.isBlank() ? List.of() : JSON.readValue(json, new TypeReference<List<String>>() {});
  }

  /** Trust managers that accept client certificates signed by the request-header CAs only. */
  public TrustManager[] trustManagers() throws GeneralSecurityException {
    KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
    try {
      store.load(null, null);
    } catch (IOException e) {
      throw new GeneralSecurityException(e);
    }
    for (int i = 0; i < cas.size(); i++) {
      store.setCertificateEntry("requestheader-ca-" + i, cas.get(i));
    }
    TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    factory.init(store);
    return factory.getTrustManagers();
  }

  /**
   * The caller the front proxy names, or empty when the request did not come from the front proxy
   * (no client certificate, a name not allowed) or names no user. {@code peer} is the chain the TLS
   * handshake already verified against {@link #trustManagers()}.
   */
  public Optional<Caller> caller(Certificate[] peer, Headers headers) {
    if (peer == null || peer.length == 0 || !(peer[0] instanceof X509Certificate leaf)) {
      return Optional.empty();
    }
    if (!allowedNames.isEmpty() && !allowedNames.contains(commonName(leaf.getSubjectX500Principal()))) {
      return Optional.empty();
    }
    String user = null;
    for (String header : userHeaders) {
      String value = headers.getFirst(header);
      if (value != null && !value.isBlank()) {
        user = value;
        break;
      }
    }
    if (user == null) {
      return Optional.empty();
    }
    List<String> groups = new ArrayList<>();
    for (String header : groupHeaders) {
      List<String> values = headers.get(header);
      if (values != null) {
        values.stream().filter(v -> !v.isBlank()).forEach(groups::add);
      }
    }
    return Optional.of(new Caller(user, groups));
  }

  static String commonName(X500Principal principal) {
    try {
      String name = principal.getName(X500Principal.RFC2253);
      for (javax.naming.ldap.Rdn rdn : new javax.naming.ldap.LdapName(name).getRdns()) {
        if ("CN".equalsIgnoreCase(rdn.getType())) {
          return String.valueOf(rdn.getValue());
        }
      }
    } catch (javax.naming.InvalidNameException e) {
      return "";
    }
    return "";
  }
}
