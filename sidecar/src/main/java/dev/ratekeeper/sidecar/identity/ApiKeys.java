package dev.ratekeeper.sidecar.identity;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * End users' own keys, held only as SHA-256 hashes: the plain key is hashed on arrival and then
 * forgotten, never logged and never forwarded.
 */
public final class ApiKeys {
  private ApiKeys() {}

  /** Lower-case hex SHA-256 of {@code key}: the form the operator writes to Redis and files are read into. */
  public static String hash(String key) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Reads a keys file, one {@code <user-id>: <key>} per line (the layout of the Kubernetes Secret's
   * data); blank lines and lines starting with {@code #} are skipped. Returns hash → user id.
   */
  public static Map<String, String> readFile(Path file) throws IOException {
    Map<String, String> byHash = new HashMap<>();
    List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i).strip();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      int colon = line.indexOf(':');
      if (colon <= 0 || colon == line.length() - 1) {
        // say where, never what: the line holds a secret
        throw new IOException(file + " line " + (i + 1) + ": expected <user-id>: <key>");
      }
      byHash.put(hash(line.substring(colon + 1).strip()), line.substring(0, colon).strip());
    }
    return byHash;
  }
}
