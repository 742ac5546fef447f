package dev.ratekeeper.operator.secrets;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ApiKeyHashesTest {
  private static String b64(String s) {
    return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }

  private static Secret secret(Map<String, String> data) {
    return new SecretBuilder().withNewMetadata().withName("agent-keys").endMetadata().withData(data).build();
  }

  @Test
  void mapsTheSha256OfEachKeyToItsUser() {
    ApiKeyHashes.Result result = ApiKeyHashes.of(secret(Map.of("alice", b64("sk-alice-1"), "bob", b64("sk-bob-1"))));

    assertThat(result.userByHash()).containsExactlyInAnyOrderEntriesOf(Map.of(
        ApiKeyHashes.sha256Hex("sk-alice-1"), "alice",
        ApiKeyHashes.sha256Hex("sk-bob-1"), "bob"));
    assertThat(result.problems()).isEmpty();
  }

  @Test
  void theHashIsLowerCaseHexSha256OfUtf8() {
    // sha256("abc") from FIPS 180-2
    assertThat(ApiKeyHashes.sha256Hex("abc"))
        .isEqualTo("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  }

  @Test
  void surroundingWhitespaceIsNotPartOfAKey() {
    ApiKeyHashes.Result result = ApiKeyHashes.of(secret(Map.of("alice", b64("sk-alice-1\n"))));

    assertThat(result.userByHash()).containsOnlyKeys(ApiKeyHashes.sha256Hex("sk-alice-1"));
  }

  @Test
  void stringDataCountsToo() {
    Secret secret = new SecretBuilder().withNewMetadata().withName("agent-keys").endMetadata()
        .withStringData(Map.of("carol", "sk-carol")).build();

    assertThat(ApiKeyHashes.of(secret).userByHash()).containsEntry(ApiKeyHashes.sha256Hex("sk-carol"), "carol");
  }

  @Test
  void problemsNameUsersNeverKeys() {
    Map<String, String> data = new LinkedHashMap<>();
    data.put("alice", b64("shared-secret-key"));
    data.put("bob", b64("shared-secret-key"));
    data.put("carol", "!!not-base64!!");
    data.put("dave", b64("   "));
    data.put("erin", b64("sk-erin"));

    ApiKeyHashes.Result result = ApiKeyHashes.of(secret(data));

    assertThat(result.userByHash()).containsExactlyEntriesOf(Map.of(ApiKeyHashes.sha256Hex("sk-erin"), "erin"));
    assertThat(result.problems()).containsExactlyInAnyOrder(
        "Secret agent-keys: the key of user carol is not valid base64; it is ignored",
        "Secret agent-keys: user dave has an empty key; it is ignored",
        "Secret agent-keys: users alice, bob have the same key; it identifies none of them");
    assertThat(String.join(" ", result.problems())).doesNotContain("shared-secret-key").doesNotContain("sk-erin");
  }

  @Test
  void anEmptySecretSaysSo() {
    ApiKeyHashes.Result result = ApiKeyHashes.of(secret(Map.of()));

    assertThat(result.userByHash()).isEmpty();
    assertThat(result.problems()).containsExactly(
        "Secret agent-keys has no entries: no end-user API key is recognised");
  }
}
