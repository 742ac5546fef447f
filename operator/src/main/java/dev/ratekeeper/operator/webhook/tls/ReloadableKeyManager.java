package dev.ratekeeper.operator.webhook.tls;

import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;

/**
 * The serving key and certificate of a TLS server, replaceable while it runs: handshakes after
 * {@link #reload} present the new certificate, without restarting the server. Each generation has
 * its own alias, and the previous generation stays resolvable, so a handshake that chose its alias
 * just before a reload still gets a matching certificate and key.
 */
public final class ReloadableKeyManager extends X509ExtendedKeyManager {
  private record Generation(String alias, KeyAndCertificate material) {}

  private final AtomicLong generations = new AtomicLong();
  private final Map<String, Generation> byAlias = new ConcurrentHashMap<>();
  private volatile Generation current;

  public ReloadableKeyManager(KeyAndCertificate initial) {
    reload(initial);
  }

  /** Serves {@code material} from the next handshake on. */
  public synchronized void reload(KeyAndCertificate material) {
    Generation previous = current;
    Generation next = new Generation("serving-" + generations.incrementAndGet(), material);
    byAlias.put(next.alias(), next);
    current = next;
    byAlias.keySet().removeIf(alias -> !alias.equals(next.alias())
        && (previous == null || !alias.equals(previous.alias())));
  }

  /** The certificate new handshakes present. */
  public X509Certificate certificate() {
    return current.material().certificate();
  }

  /** A TLS context (TLS 1.2 and 1.3) serving through this key manager. */
  public SSLContext sslContext() throws GeneralSecurityException {
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(new KeyManager[] {this}, null, new SecureRandom());
    return context;
  }

  @Override
  public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
    return choose(keyType);
  }

  @Override
  public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
    return choose(keyType);
  }

  @Override
  public X509Certificate[] getCertificateChain(String alias) {
    Generation g = byAlias.get(alias);
    return g == null ? null : g.material().chain().toArray(X509Certificate[]::new);
  }

  @Override
  public PrivateKey getPrivateKey(String alias) {
    Generation g = byAlias.get(alias);
    return g == null ? null : g.material().key();
  }

  @Override
  public String[] getServerAliases(String keyType, Principal[] issuers) {
    String alias = choose(keyType);
    return alias == null ? null : new String[] {alias};
  }

  @Override
  public String[] getClientAliases(String keyType, Principal[] issuers) {
    return null;
  }

  @Override
  public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
    return null;
  }

  private String choose(String keyType) {
    Generation g = current;
    String algorithm = g.material().key().getAlgorithm().toUpperCase(Locale.ROOT);
    String wanted = keyType == null ? "" : keyType.toUpperCase(Locale.ROOT);
    boolean fits = wanted.equals(algorithm) || (algorithm.equals("RSA") && wanted.startsWith("RSA"))
        || (algorithm.equals("EC") && wanted.startsWith("EC"));
    return fits ? g.alias() : null;
  }
}
