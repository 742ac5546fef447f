package dev.ratekeeper.operator.webhook;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ratekeeper.cli.ConfigException;
import dev.ratekeeper.operator.webhook.inject.InjectionSettings;
import dev.ratekeeper.operator.webhook.inject.MissingPolicyAction;
import dev.ratekeeper.operator.webhook.inject.SidecarMode;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WebhookConfigTest {
  private static final Map<String, String> MINIMAL = Map.of(
      "RATEKEEPER_WEBHOOK_ENABLED", "true",
      "POD_NAMESPACE", "ratekeeper",
      "RATEKEEPER_SIDECAR_REDIS_URL", "redis://redis.ratekeeper.svc:6379");

  @Test
  void disabledUnlessAskedFor() throws Exception {
    WebhookConfig config = WebhookConfig.fromEnv(Map.of("RATEKEEPER_SIDECAR_MODE", "nonsense"));
    assertThat(config.enabled()).isFalse();
    assertThatThrownBy(() -> WebhookConfig.fromEnv(Map.of("RATEKEEPER_WEBHOOK_ENABLED", "maybe")))
        .hasMessageContaining("RATEKEEPER_WEBHOOK_ENABLED: expected true or false");
    // one rule for booleans in every program: yes/no and 1/0 too, any case
    assertThat(WebhookConfig.fromEnv(Map.of("RATEKEEPER_WEBHOOK_ENABLED", "no")).enabled()).isFalse();
    assertThatThrownBy(() -> WebhookConfig.fromEnv(Map.of("RATEKEEPER_WEBHOOK_ENABLED", "YES")))
        .as("yes enables it, so its required settings are asked for")
        .hasMessageContaining("RATEKEEPER_WEBHOOK_NAMESPACE: required");
  }

  @Test
  void defaults() throws Exception {
    WebhookConfig config = WebhookConfig.fromEnv(MINIMAL);
    assertThat(config.enabled()).isTrue();
    assertThat(config.listen().getPort()).isEqualTo(9443);
    assertThat(config.listen().getHostString()).isEqualTo("0.0.0.0");
    assertThat(config.namespace()).isEqualTo("ratekeeper");
    assertThat(config.secretName()).isEqualTo("ratekeeper-webhook-tls");
    assertThat(config.webhookConfigName()).isEqualTo("ratekeeper-sidecar-injector");
    assertThat(config.dnsNames()).containsExactly("ratekeeper-webhook.ratekeeper.svc",
        "ratekeeper-webhook.ratekeeper.svc.cluster.local");
    assertThat(config.certValidity()).isEqualTo(Duration.ofDays(365));
    assertThat(config.renewBefore()).isEqualTo(Duration.ofDays(30));
    assertThat(config.checkInterval()).isEqualTo(Duration.ofMinutes(1));
    InjectionSettings injection = config.injection();
    assertThat(injection.mode()).isEqualTo(SidecarMode.Native);
    assertThat(injection.onMissingPolicy()).isEqualTo(MissingPolicyAction.Refuse);
    assertThat(injection.image()).isEqualTo(InjectionSettings.DEFAULT_IMAGE);
    assertThat(injection.redisUrl()).isEqualTo("redis://redis.ratekeeper.svc:6379");
    assertThat(injection.redisPasswordSecret()).isNull();
    assertThat(injection.cpuRequest()).isEqualTo("50m");
    assertThat(injection.memoryRequest()).isEqualTo("96Mi");
    assertThat(injection.cpuLimit()).isNull();
    assertThat(injection.memoryLimit()).isEqualTo("192Mi");
    assertThat(injection.javaOptions()).contains("-XX:+UseSerialGC");
  }

  @Test
  void everySettingIsRead() throws Exception {
    Map<String, String> env = new HashMap<>(MINIMAL);
    env.put("RATEKEEPER_WEBHOOK_LISTEN", "127.0.0.1:8443");
    env.put("RATEKEEPER_WEBHOOK_SERVICE", "rk-hook");
    env.put("RATEKEEPER_WEBHOOK_NAMESPACE", "platform");
    env.put("RATEKEEPER_WEBHOOK_SECRET", "rk-hook-tls");
    env.put("RATEKEEPER_WEBHOOK_CONFIG_NAME", "rk-injector");
    env.put("RATEKEEPER_WEBHOOK_DNS_NAMES", "rk-hook.example.com, localhost");
    env.put("RATEKEEPER_WEBHOOK_CA_VALIDITY", "17520h");
    env.put("RATEKEEPER_WEBHOOK_CERT_VALIDITY", "2160h");
    env.put("RATEKEEPER_WEBHOOK_RENEW_BEFORE", "240h");
    env.put("RATEKEEPER_WEBHOOK_CHECK_INTERVAL", "5m");
    env.put("RATEKEEPER_SIDECAR_IMAGE", "registry.example.com/rk-sidecar:1.2.3");
    env.put("RATEKEEPER_SIDECAR_IMAGE_PULL_POLICY", "Always");
    env.put("RATEKEEPER_SIDECAR_MODE", "container");
    env.put("RATEKEEPER_ON_MISSING_POLICY", "AdmitUninjected");
    env.put("RATEKEEPER_SIDECAR_REDIS_SECRET", "redis-auth");
    env.put("RATEKEEPER_SIDECAR_REDIS_SECRET_KEY", "pw");
    env.put("RATEKEEPER_SIDECAR_CPU_LIMIT", "500m");
    env.put("RATEKEEPER_SIDECAR_MEMORY_LIMIT", "");
    env.put("RATEKEEPER_SIDECAR_JAVA_OPTIONS", "-Xmx64m");
    WebhookConfig config = WebhookConfig.fromEnv(env);
    assertThat(config.listen().getHostString()).isEqualTo("127.0.0.1");
    assertThat(config.listen().getPort()).isEqualTo(8443);
    assertThat(config.namespace()).isEqualTo("platform");
    assertThat(config.secretName()).isEqualTo("rk-hook-tls");
    assertThat(config.webhookConfigName()).isEqualTo("rk-injector");
    assertThat(config.dnsNames()).containsExactly("rk-hook.platform.svc", "rk-hook.platform.svc.cluster.local",
        "rk-hook.example.com", "localhost");
    assertThat(config.caValidity()).isEqualTo(Duration.ofDays(730));
    assertThat(config.certValidity()).isEqualTo(Duration.ofDays(90));
    assertThat(config.renewBefore()).isEqualTo(Duration.ofDays(10));
    assertThat(config.checkInterval()).isEqualTo(Duration.ofMinutes(5));
    InjectionSettings injection = config.injection();
    assertThat(injection.image()).isEqualTo("registry.example.com/rk-sidecar:1.2.3");
    assertThat(injection.imagePullPolicy()).isEqualTo("Always");
    assertThat(injection.mode()).isEqualTo(SidecarMode.Container);
    assertThat(injection.onMissingPolicy()).isEqualTo(MissingPolicyAction.AdmitUninjected);
    assertThat(injection.redisPasswordSecret()).isEqualTo(new InjectionSettings.SecretKey("redis-auth", "pw"));
    assertThat(injection.cpuLimit()).isEqualTo("500m");
    assertThat(injection.memoryLimit()).as("\"\" means none").isNull();
    assertThat(injection.javaOptions()).isEqualTo("-Xmx64m");
  }

  @Test
  void theSidecarsRedisFallsBackToTheOperatorsAndTheNamespaceToThePods() throws Exception {
    WebhookConfig config = WebhookConfig.fromEnv(Map.of("RATEKEEPER_WEBHOOK_ENABLED", "true",
        "RATEKEEPER_WEBHOOK_NAMESPACE", "rk", "RATEKEEPER_REDIS_URL", "redis://redis.rk.svc:6379"));
    assertThat(config.injection().redisUrl()).isEqualTo("redis://redis.rk.svc:6379");
    assertThat(config.namespace()).isEqualTo("rk");
  }

  @Test
  void everyProblemIsReportedAtOnce() {
    Map<String, String> env = new HashMap<>();
    env.put("RATEKEEPER_WEBHOOK_ENABLED", "true");
    env.put("RATEKEEPER_WEBHOOK_LISTEN", "nowhere");
    env.put("RATEKEEPER_WEBHOOK_DNS_NAMES", "ok.example.com,Not_A_Name");
    env.put("RATEKEEPER_WEBHOOK_CERT_VALIDITY", "1y");
    env.put("RATEKEEPER_WEBHOOK_RENEW_BEFORE", "9000h");
    env.put("RATEKEEPER_SIDECAR_MODE", "Sidecar");
    env.put("RATEKEEPER_ON_MISSING_POLICY", "Ignore");
    env.put("RATEKEEPER_SIDECAR_IMAGE_PULL_POLICY", "Sometimes");
    env.put("RATEKEEPER_SIDECAR_MEMORY_REQUEST", "lots");
    assertThatThrownBy(() -> WebhookConfig.fromEnv(env))
        .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactly(
            "RATEKEEPER_WEBHOOK_LISTEN: expected HOST:PORT, got \"nowhere\"",
            "RATEKEEPER_WEBHOOK_NAMESPACE: required (the namespace of the webhook's Service and Secret);"
                + " or set POD_NAMESPACE from the downward API",
            "RATEKEEPER_WEBHOOK_DNS_NAMES: \"Not_A_Name\" is not a DNS name",
            "RATEKEEPER_WEBHOOK_CERT_VALIDITY: expected a positive duration such as 500ms, 10s, 2m or 168h, got \"1y\"",
            "RATEKEEPER_WEBHOOK_RENEW_BEFORE must be shorter than RATEKEEPER_WEBHOOK_CERT_VALIDITY,"
                + " or every check would renew",
            "RATEKEEPER_SIDECAR_IMAGE_PULL_POLICY: expected IfNotPresent, Always or Never, got \"Sometimes\"",
            "RATEKEEPER_SIDECAR_MODE: expected one of [Native, Container], got \"Sidecar\"",
            "RATEKEEPER_ON_MISSING_POLICY: expected one of [Refuse, AdmitUninjected], got \"Ignore\"",
            "RATEKEEPER_SIDECAR_REDIS_URL: required (the Redis every sidecar shares, as app pods reach it)",
            "RATEKEEPER_SIDECAR_MEMORY_REQUEST: \"lots\" is not a Kubernetes quantity such as 50m or 128Mi"));
  }

  @Test
  void zeroDurationsAreRefusedAsInEveryProgram() {
    Map<String, String> env = new HashMap<>(MINIMAL);
    env.put("RATEKEEPER_WEBHOOK_CHECK_INTERVAL", "0s");
    env.put("RATEKEEPER_WEBHOOK_RENEW_BEFORE", "0h");
    assertThatThrownBy(() -> WebhookConfig.fromEnv(env))
        .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).containsExactly(
            "RATEKEEPER_WEBHOOK_RENEW_BEFORE: expected a positive duration such as 500ms, 10s, 2m or 168h, got \"0h\"",
            "RATEKEEPER_WEBHOOK_CHECK_INTERVAL: expected a positive duration such as 500ms, 10s, 2m or 168h,"
                + " got \"0s\""));
  }

  @Test
  void valuesAreTrimmedAndBlankVariablesAreUnset() throws Exception {
    Map<String, String> env = new HashMap<>(MINIMAL);
    env.put("RATEKEEPER_WEBHOOK_SERVICE", "  rk-hook ");
    env.put("RATEKEEPER_WEBHOOK_SECRET", "   ");
    env.put("RATEKEEPER_SIDECAR_MODE", " Container\n");
    WebhookConfig config = WebhookConfig.fromEnv(env);
    assertThat(config.serviceName()).isEqualTo("rk-hook");
    assertThat(config.secretName()).isEqualTo(WebhookConfig.DEFAULT_SECRET);
    assertThat(config.injection().mode()).isEqualTo(SidecarMode.Container);
  }

  @Test
  void theSidecarsRedisMustBeReachableFromAppPodsAndCarryNoPassword() {
    assertThat(WebhookConfig.sidecarRedisProblem("redis://redis.rk.svc:6379")).isNull();
    assertThat(WebhookConfig.sidecarRedisProblem("rediss://default@redis.example.com:6380")).isNull();
    assertThat(WebhookConfig.sidecarRedisProblem("redis://:hunter2@redis.rk.svc:6379"))
        .contains("must not carry a password").contains("RATEKEEPER_SIDECAR_REDIS_SECRET");
    assertThat(WebhookConfig.sidecarRedisProblem("redis://127.0.0.1:6379")).contains("would be each app pod itself");
    assertThat(WebhookConfig.sidecarRedisProblem("redis://localhost:6379")).contains("would be each app pod itself");
    assertThat(WebhookConfig.sidecarRedisProblem("http://redis:6379")).contains("expected redis://");
    assertThat(WebhookConfig.sidecarRedisProblem("http://u:hunter2@redis:6379")).contains("expected redis://")
        .doesNotContain("hunter2");
  }

  @Test
  void theHelpNamesEveryVariable() {
    for (String name : new String[] {"RATEKEEPER_WEBHOOK_LISTEN", "RATEKEEPER_WEBHOOK_SERVICE",
        "RATEKEEPER_WEBHOOK_NAMESPACE", "RATEKEEPER_WEBHOOK_SECRET", "RATEKEEPER_WEBHOOK_CONFIG_NAME",
        "RATEKEEPER_SIDECAR_IMAGE", "RATEKEEPER_SIDECAR_MODE", "RATEKEEPER_ON_MISSING_POLICY",
        "RATEKEEPER_SIDECAR_REDIS_URL", "RATEKEEPER_SIDECAR_REDIS_SECRET"}) {
      assertThat(WebhookConfig.ENV_HELP).contains(name);
    }
  }
}
