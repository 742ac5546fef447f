package dev.ratekeeper.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The built-in Redis (StatefulSet, AOF, PVC or emptyDir, password) and the external-Redis wiring. */
class RedisTemplatesTest {

  @Test
  void builtinRedisPersistsEveryWriteOnAVolumeClaim() {
    Rendered r = Chart.render("default");
    StatefulSet sts = r.one(StatefulSet.class, "ratekeeper-redis");
    assertThat(sts.getSpec().getReplicas()).isEqualTo(1);
    Container redis = sts.getSpec().getTemplate().getSpec().getContainers().get(0);
    assertThat(redis.getImage()).startsWith("docker.io/library/redis:7");
    assertThat(conf(r)).contains("appendonly yes", "appendfsync always", "maxmemory-policy noeviction", "dir /data")
        .doesNotContain("protected-mode no");
    assertThat(sts.getSpec().getVolumeClaimTemplates()).singleElement().satisfies(pvc -> {
      assertThat(pvc.getMetadata().getName()).isEqualTo("data");
      assertThat(pvc.getSpec().getResources().getRequests()).containsEntry("storage", new Quantity("1Gi"));
    });
    assertThat(sts.getSpec().getTemplate().getSpec().getVolumes()).noneMatch(v -> v.getName().equals("data"));
    assertThat(redis.getVolumeMounts()).anyMatch(m -> m.getName().equals("data") && m.getMountPath().equals("/data"));
    assertThat(redis.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
    assertThat(redis.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
    assertThat(sts.getSpec().getTemplate().getSpec().getSecurityContext().getRunAsNonRoot()).isTrue();
    assertThat(redis.getArgs()).containsSequence("--requirepass", "$(REDIS_PASSWORD)");

    Service service = r.one(Service.class, "ratekeeper-redis");
    assertThat(service.getSpec().getPorts().get(0).getPort()).isEqualTo(6379);
    assertThat(service.getSpec().getSelector()).isEqualTo(sts.getSpec().getSelector().getMatchLabels());
    String url = "redis://ratekeeper-redis." + Chart.NAMESPACE + ".svc:6379";
    assertThat(r.envValue("RATEKEEPER_REDIS_URL")).isEqualTo(url);
    assertThat(r.envValue("RATEKEEPER_SIDECAR_REDIS_URL")).isEqualTo(url);
  }

  @Test
  void withoutPersistenceRedisUsesAnEmptyDirAndTheChosenFsync() {
    Rendered r = Chart.render("redis-without-persistence");
    StatefulSet sts = r.one(StatefulSet.class, "ratekeeper-redis");
    assertThat(sts.getSpec().getVolumeClaimTemplates()).isNullOrEmpty();
    assertThat(sts.getSpec().getTemplate().getSpec().getVolumes())
        .anyMatch(v -> v.getName().equals("data") && v.getEmptyDir() != null);
    assertThat(conf(r)).contains("appendfsync everysec", "maxmemory 256mb");
  }

  @Test
  void theGeneratedPasswordIsRandomAndTheSameInEverySecretOfARelease() {
    Rendered first = Chart.render("restricted-namespaces");
    String password = Rendered.secretValue(first.one(Secret.class, "ratekeeper-redis"), "password");
    assertThat(password).matches("[A-Za-z0-9]{32}");
    List<Secret> copies = first.all(Secret.class).stream()
        .filter(s -> s.getMetadata().getName().equals("ratekeeper-redis-password")).toList();
    assertThat(copies).extracting(s -> s.getMetadata().getNamespace()).containsExactly("team-a", "team-b");
    copies.forEach(s -> assertThat(Rendered.secretValue(s, "password")).isEqualTo(password));

    String second = Rendered.secretValue(Chart.render("restricted-namespaces").one(Secret.class, "ratekeeper-redis"),
        "password");
    assertThat(second).isNotEqualTo(password);

    EnvVar operatorPassword = first.operatorEnv().get("RATEKEEPER_REDIS_PASSWORD");
    assertThat(operatorPassword.getValueFrom().getSecretKeyRef().getName()).isEqualTo("ratekeeper-redis");
    assertThat(operatorPassword.getValueFrom().getSecretKeyRef().getKey()).isEqualTo("password");
    assertThat(first.envValue("RATEKEEPER_SIDECAR_REDIS_SECRET")).isEqualTo("ratekeeper-redis-password");
    assertThat(first.envValue("RATEKEEPER_SIDECAR_REDIS_SECRET_KEY")).isEqualTo("password");
  }

  @Test
  void aGivenPasswordIsUsedAsItIs() {
    Rendered r = Chart.render(Map.of("redis.auth.password", "s3cret-Passw0rd"));
    assertThat(Rendered.secretValue(r.one(Secret.class, "ratekeeper-redis"), "password")).isEqualTo("s3cret-Passw0rd");
  }

  @Test
  void withoutAuthThereIsNoPasswordAnywhere() {
    Rendered r = Chart.render(Map.of("redis.auth.enabled", false));
    assertThat(r.all(Secret.class)).isEmpty();
    assertThat(r.operatorEnv()).doesNotContainKeys("RATEKEEPER_REDIS_PASSWORD", "RATEKEEPER_SIDECAR_REDIS_SECRET");
    assertThat(conf(r)).contains("protected-mode no");
    assertThat(r.one(StatefulSet.class, "ratekeeper-redis").getSpec().getTemplate().getSpec().getContainers().get(0)
        .getArgs()).doesNotContain("--requirepass");
  }

  @Test
  void externalRedisIsUsedOverTlsWithItsExistingSecret() {
    Rendered r = Chart.render("external-redis");
    assertThat(r.all(StatefulSet.class)).isEmpty();
    assertThat(r.all(Secret.class)).isEmpty();
    assertThat(r.envValue("RATEKEEPER_REDIS_URL")).isEqualTo("rediss://redis.data.svc:6380");
    assertThat(r.envValue("RATEKEEPER_SIDECAR_REDIS_URL")).isEqualTo("rediss://redis.data.svc.cluster.local:6380");
    var ref = r.operatorEnv().get("RATEKEEPER_REDIS_PASSWORD").getValueFrom().getSecretKeyRef();
    assertThat(ref.getName()).isEqualTo("ratekeeper-redis-auth");
    assertThat(ref.getKey()).isEqualTo("redis-password");
  }

  @Test
  void externalRedisWithAPasswordValueGetsASecretTheSidecarCopiesShare() {
    Rendered r = Chart.render(Map.of("redis.mode", "external", "redis.external.url", "redis://10.0.0.5:6379",
        "redis.external.password", "pw-from-values", "sidecar.redisPasswordSecret.createIn[0]", "agents"));
    assertThat(Rendered.secretValue(r.one(Secret.class, "ratekeeper-redis"), "password")).isEqualTo("pw-from-values");
    Secret copy = r.one(Secret.class, "ratekeeper-redis-password");
    assertThat(copy.getMetadata().getNamespace()).isEqualTo("agents");
    assertThat(Rendered.secretValue(copy, "password")).isEqualTo("pw-from-values");
  }

  @Test
  void copiesOfAPasswordTheChartDoesNotKnowAreRefused() {
    IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
        () -> Chart.render(Map.of("redis.auth.existingSecret", "mine", "sidecar.redisPasswordSecret.createIn[0]",
            "agents")));
    assertThat(e.getMessage()).contains("sidecar.redisPasswordSecret.createIn");
  }

  private static String conf(Rendered r) {
    return r.one(ConfigMap.class, "ratekeeper-redis").getData().get("redis.conf");
  }

  @Test
  void externalClusterOverTlsWithPerNamespaceUsers() {
    Rendered r = Chart.render("external-redis-cluster");
    Map<String, EnvVar> env = r.operatorEnv();
    assertThat(env.get("RATEKEEPER_REDIS_MODE").getValue()).isEqualTo("cluster");
    assertThat(env.get("RATEKEEPER_REDIS_URL").getValue().split(",")).hasSize(3);
    assertThat(env.get("RATEKEEPER_REDIS_USER").getValue()).isEqualTo("ratekeeper-operator");
    assertThat(env.get("RATEKEEPER_REDIS_CA_FILE").getValue()).isEqualTo("/etc/ratekeeper/redis-ca/ca.crt");
    assertThat(env.get("RATEKEEPER_REDIS_CERT_FILE").getValue()).isEqualTo("/etc/ratekeeper/redis-client/tls.crt");
    assertThat(env.get("RATEKEEPER_TENANT_REDIS_SECRET").getValue()).isEqualTo("ratekeeper-redis-tenant");
    // the sidecars: each namespace's own login, the CA from a ConfigMap of their namespace
    assertThat(env.get("RATEKEEPER_SIDECAR_REDIS_MODE").getValue()).isEqualTo("cluster");
    assertThat(env.get("RATEKEEPER_SIDECAR_REDIS_SECRET").getValue()).isEqualTo("ratekeeper-redis-tenant");
    assertThat(env.get("RATEKEEPER_SIDECAR_REDIS_USER_SECRET").getValue()).isEqualTo("ratekeeper-redis-tenant");
    assertThat(env.get("RATEKEEPER_SIDECAR_REDIS_CA_CONFIGMAP").getValue()).isEqualTo("ratekeeper-redis-ca");
    assertThat(env.get("RATEKEEPER_SIDECAR_REDIS_CLIENT_SECRET").getValue()).isEqualTo("ratekeeper-redis-client");
    List<ConfigMap> cas = r.all(ConfigMap.class).stream().filter(c -> c.getData() != null
        && c.getData().getOrDefault("ca.crt", "").startsWith("-----BEGIN CERTIFICATE-----")).toList();
    assertThat(cas).extracting(c -> c.getMetadata().getNamespace())
        .containsExactlyInAnyOrder(Chart.NAMESPACE, "agents-a", "agents-b");
    assertThat(r.operator().getSpec().getTemplate().getSpec().getVolumes())
        .anyMatch(v -> v.getName().equals("redis-ca") && v.getConfigMap() != null)
        .anyMatch(v -> v.getName().equals("redis-client")
            && "ratekeeper-redis-client".equals(v.getSecret().getSecretName()));
    // no copy of the operator's password in agent namespaces: tenants log in as themselves
    assertThat(r.all(Secret.class)).noneMatch(s -> "agents-a".equals(s.getMetadata().getNamespace()));
    // the operator may create and update the namespaces' login Secrets
    assertThat(r.all(io.fabric8.kubernetes.api.model.rbac.Role.class).stream()
        .filter(role -> "agents-a".equals(role.getMetadata().getNamespace()))
        .flatMap(role -> role.getRules().stream()))
        .anyMatch(rule -> rule.getResources().contains("secrets") && rule.getVerbs().containsAll(List.of("create",
            "update")));
    assertThat(r.all(StatefulSet.class)).as("no built-in Redis").isEmpty();
  }

  @Test
  void externalSentinelNamesTheMasterForBothPrograms() {
    Rendered r = Chart.render("external-redis-sentinel");
    assertThat(r.envValue("RATEKEEPER_REDIS_MODE")).isEqualTo("sentinel");
    assertThat(r.envValue("RATEKEEPER_REDIS_MASTER_NAME")).isEqualTo("ratekeeper");
    assertThat(r.envValue("RATEKEEPER_SIDECAR_REDIS_MODE")).isEqualTo("sentinel");
    assertThat(r.envValue("RATEKEEPER_SIDECAR_REDIS_MASTER_NAME")).isEqualTo("ratekeeper");
    assertThat(r.envValue("RATEKEEPER_SIDECAR_REDIS_URL")).isEqualTo("redis://sentinel-0.sentinel.data.svc:26379,"
        + "redis://sentinel-1.sentinel.data.svc:26379,redis://sentinel-2.sentinel.data.svc:26379");
    assertThat(r.operatorEnv()).doesNotContainKeys("RATEKEEPER_REDIS_CA_FILE", "RATEKEEPER_TENANT_REDIS_SECRET");
  }

  @Test
  void aSentinelWithoutTheMastersNameIsRefused() {
    IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
        () -> Chart.render(Map.of("redis.mode", "external", "redis.external.topology", "sentinel",
            "redis.external.nodes[0]", "redis://sentinel-0:26379")));
    assertThat(e.getMessage()).contains("don't meet the specifications of the schema")
        .contains("/redis/external/sentinelMasterName");
  }
}
