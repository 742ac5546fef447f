package dev.ratekeeper.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** One rule per kind of value, the same in every program (see {@link Inputs}). */
class InputsTest {
  static final Setting V = Setting.value("--v", "RK_V", "X", "a value");
  static final Setting E = Setting.variable("RK_E", "a variable");

  enum Mode { Native, Container }

  static Inputs flag(String value) {
    return Command.named("rk", "rk").add(V, E).read(new String[] {"--v", value}, Map.of());
  }

  static Inputs env(String value) {
    return Inputs.fromEnv(Map.of("RK_E", value));
  }

  @Test
  void durationsAreGoStyleAndMoreThanZero() {
    assertThat(flag("1m30s").duration(V, Duration.ZERO)).isEqualTo(Duration.ofSeconds(90));
    assertThat(env(" 500ms ").duration(E, Duration.ZERO)).isEqualTo(Duration.ofMillis(500));
    assertThat(env("168h").duration(E, Duration.ZERO)).isEqualTo(Duration.ofDays(7));
    Inputs zero = flag("0s");
    assertThat(zero.duration(V, Duration.ofSeconds(3))).isEqualTo(Duration.ofSeconds(3));
    Inputs zeroEnv = env("0ms");
    zeroEnv.duration(E, Duration.ofSeconds(3));
    Inputs bad = flag("1y");
    bad.duration(V, Duration.ofSeconds(3));
    Inputs negative = flag("-5s");
    negative.duration(V, Duration.ofSeconds(3));
    assertThat(zero.problems()).containsExactly(
        "--v: expected a positive duration such as 500ms, 10s, 2m or 168h, got \"0s\"");
    assertThat(zeroEnv.problems()).containsExactly(
        "RK_E: expected a positive duration such as 500ms, 10s, 2m or 168h, got \"0ms\"");
    assertThat(bad.problems()).hasSize(1);
    assertThat(negative.problems()).hasSize(1);
    assertThat(Inputs.fromEnv(Map.of()).duration(E, Duration.ofSeconds(3))).isEqualTo(Duration.ofSeconds(3));
  }

  @Test
  void sizesAreBytesWithAnOptionalUnit() {
    assertThat(flag("65536").size(V, 1)).isEqualTo(65536);
    assertThat(flag("2KiB").size(V, 1)).isEqualTo(2048);
    assertThat(flag("1mb").size(V, 1)).isEqualTo(1_000_000);
    assertThat(flag("32 MiB").size(V, 1)).isEqualTo(32L << 20);
    assertThat(flag("1GiB").size(V, 1)).isEqualTo(1L << 30);
    Inputs zero = flag("0");
    assertThat(zero.size(V, 7)).isEqualTo(7);
    assertThat(zero.problems()).containsExactly("--v: must be at least 1 byte");
    Inputs lots = flag("lots");
    lots.size(V, 7);
    assertThat(lots.problems()).containsExactly("--v: expected a size such as 32MiB, 1MB or 65536, got \"lots\"");
    Inputs huge = flag("9999999999999KiB");
    assertThat(huge.size(V, 7)).isEqualTo(7);
    assertThat(huge.problems()).hasSize(1);
  }

  @Test
  void addressesAreHostColonPort() {
    assertThat(flag("0.0.0.0:9443").hostPort(V, "x:1")).isEqualTo(new HostPort("0.0.0.0", 9443));
    assertThat(flag("[::1]:80").hostPort(V, "x:1")).isEqualTo(new HostPort("[::1]", 80));
    assertThat(flag("localhost:0").hostPort(V, "x:1").port()).isZero();
    assertThat(Inputs.fromEnv(Map.of()).hostPort(E, "127.0.0.1:8787")).isEqualTo(new HostPort("127.0.0.1", 8787));
    for (String bad : new String[] {"nope", ":80", "host:", "host:65536", "host:-1", "host:8o", "a b:1", "h:1234567"}) {
      Inputs in = flag(bad);
      assertThat(in.hostPort(V, "x:1")).as(bad).isNull();
      assertThat(in.problems()).as(bad).containsExactly("--v: expected HOST:PORT, got \"" + bad + "\"");
    }
  }

  @Test
  void booleansAreTrueOrFalseInAnyCaseAndTheirShortForms() {
    for (String yes : new String[] {"true", "TRUE", "yes", "1"}) {
      assertThat(env(yes).bool(E, false)).as(yes).isTrue();
    }
    for (String no : new String[] {"false", "False", "no", "0"}) {
      assertThat(env(no).bool(E, true)).as(no).isFalse();
    }
    Inputs bad = env("maybe");
    assertThat(bad.bool(E, true)).isTrue();
    assertThat(bad.problems()).containsExactly("RK_E: expected true or false, got \"maybe\"");
    assertThat(Inputs.fromEnv(Map.of("RK_E", " ")).bool(E, true)).as("blank = not set").isTrue();
  }

  @Test
  void choicesAreEnumNamesInAnyCase() {
    assertThat(env("container").choice(E, Mode.class, Mode.Native)).isEqualTo(Mode.Container);
    Inputs bad = env("Sidecar");
    assertThat(bad.choice(E, Mode.class, Mode.Native)).isEqualTo(Mode.Native);
    assertThat(bad.problems()).containsExactly("RK_E: expected one of [Native, Container], got \"Sidecar\"");
  }

  @Test
  void prefixedVariablesAreCollectedTrimmedWithoutBlanks() {
    Inputs in = Inputs.fromEnv(Map.of("RK_KEY_A", " a ", "RK_KEY_B", "", "RK_OTHER", "x"));
    assertThat(in.envWithPrefix("RK_KEY_")).containsExactly(Map.entry("A", "a"));
  }
}
