package dev.ratekeeper.operator.secrets;

import io.fabric8.kubernetes.api.model.Secret;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Turns an API-key Secret ({@code data: <user-id>: <key>}) into what Redis holds: SHA-256 hex of
 * each key → user id. Keys are trimmed of surrounding whitespace (a trailing newline from
 * {@code echo key | kubectl create secret ...} is not part of a key). The plain keys go nowhere
 * else: problems name users, never keys. A key shared by two users identifies neither.
 */
public final class ApiKeyHashes {
  /** The hash → user map to store, and one sentence per entry that was left out. */
  public record Result(Map<String, String> userByHash, List<String> problems) {}

  private ApiKeyHashes() {}

  public static Result of(Secret secret) {
    String name = secret.getMetadata() == null ? "?" : secret.getMetadata().getName();
    Map<String, String> keyByUser = new TreeMap<>();
    List<String> problems = new ArrayList<>();
    if (secret.getData() != null) {
      secret.getData().forEach((user, encoded) -> {
        try {
          keyByUser.put(user, new String(Base64.getMimeDecoder().decode(encoded == null ? "" : encoded),
              StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
          problems.add("Secret " + name + ": the key of user " + user + " is not valid base64; it is ignored");
        }
      });
    }
    if (secret.getStringData() != null) {
      secret.getStringData().forEach((user, plain) -> keyByUser.put(user, plain == null ? "" : plain));
    }

    Map<String, String> userByHash = new TreeMap<>();
    Map<String, List<String>> usersByHash = new TreeMap<>();
    keyByUser.forEach((user, key) -> {
      String trimmed = key.strip();
      if (trimmed.isEmpty()) {
        problems.add("Secret " + name + ": user " + user + " has an empty key; it is ignored");
        return;
      }
      usersByHash.computeIfAbsent(sha256Hex(trimmed), h -> new ArrayList<>()).add(user);
    });
    usersByHash.forEach((hash, users) -> {
      if (users.size() == 1) {
        userByHash.put(hash, users.get(0));
      } else {
        problems.add("Secret " + name + ": users " + String.join(", ", users)
            + " have the same key; it identifies none of them");
      }
    });
    if (userByHash.isEmpty() && problems.isEmpty()) {
      problems.add("Secret " + name + " has no entries: no end-user API key is recognised");
    }
    return new Result(userByHash, problems);
  }

  /** Lower-case hex SHA-256 of {@code key} (UTF-8): what sidecars compute from the API-key header. */
  public static String sha256Hex(String key) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
