package dev.ratekeeper.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** How every program's command line is read: flags by picocli, variables for the flags not given. */
class CommandTest {
  static final Setting LISTEN = Setting.value("--listen", "RK_LISTEN", "HOST:PORT", "where, default 127.0.0.1:1");
  static final Setting UPSTREAM = Setting.repeatable("--upstream", "RK_UPSTREAMS", "NAME=URL", "repeatable");
  static final Setting ELECT = Setting.flagSwitch("--elect", "RK_ELECT", "elect a leader, default false");
  static final Setting ONLY_ENV = Setting.variable("RK_ONLY_ENV", "a variable without a flag");

  static Command command() {
    return Command.named("rk", "java -jar rk.jar").add(LISTEN, UPSTREAM, ELECT, ONLY_ENV).footer("Footer line.");
  }

  @Test
  void aFlagWinsOverItsVariableAndBothAreTrimmed() {
    Map<String, String> env = Map.of("RK_LISTEN", " 10.0.0.1:80 ", "RK_UPSTREAMS", "a=http://x, b=http://y");
    assertThat(command().read(new String[0], env).text(LISTEN)).isEqualTo("10.0.0.1:80");
    Inputs in = command().read(new String[] {"--listen", " 127.0.0.1:2 "}, env);
    assertThat(in.text(LISTEN)).isEqualTo("127.0.0.1:2");
    assertThat(in.list(UPSTREAM)).containsExactly("a=http://x", "b=http://y");
    assertThat(command().read(new String[] {"--listen=127.0.0.1:3"}, env).text(LISTEN)).isEqualTo("127.0.0.1:3");
  }

  @Test
  void aBlankVariableIsNotSetButABlankFlagIsGiven() {
    Map<String, String> env = Map.of("RK_LISTEN", "  ", "RK_UPSTREAMS", "a=http://x");
    Inputs in = command().read(new String[] {"--upstream", ""}, env);
    assertThat(in.text(LISTEN)).isNull();
    assertThat(in.isSet(LISTEN)).isFalse();
    assertThat(in.list(UPSTREAM)).as("given empty: the variable is not read").isEmpty();
    assertThat(in.textOrNone(LISTEN, "dflt")).as("a blank variable read as none").isNull();
    assertThat(command().read(new String[0], Map.of()).textOrNone(LISTEN, "dflt")).isEqualTo("dflt");
  }

  @Test
  void aRepeatableFlagAddsUpAndOthersMayBeGivenOnce() throws Exception {
    Inputs in = command().read(new String[] {"--upstream", "a=http://x", "--upstream=b=http://y,c=http://z"},
        Map.of("RK_UPSTREAMS", "ignored=http://q"));
    assertThat(in.list(UPSTREAM)).containsExactly("a=http://x", "b=http://y", "c=http://z");
    in.check();
    assertThat(command().read(new String[] {"--listen", "h:1", "--listen", "h:2"}, Map.of()).problems())
        .containsExactly("--listen: given more than once");
  }

  @Test
  void aSwitchAloneMeansTrue() {
    assertThat(command().read(new String[] {"--elect"}, Map.of()).bool(ELECT, false)).isTrue();
    assertThat(command().read(new String[] {"--elect", "--listen", "h:1"}, Map.of()).bool(ELECT, false)).isTrue();
    assertThat(command().read(new String[] {"--elect=false"}, Map.of("RK_ELECT", "true")).bool(ELECT, true))
        .isFalse();
    assertThat(command().read(new String[0], Map.of("RK_ELECT", "TRUE")).bool(ELECT, false)).isTrue();
  }

  @Test
  void commandLineProblemsAreAllRecorded() {
    Inputs in = command().read(new String[] {"--bogus", "1", "--other=2", "stray", "--listen"}, Map.of());
    assertThat(in.problems()).containsExactly("unknown flag --bogus", "unknown flag --other",
        "unexpected argument \"stray\" (every setting is a --flag)", "--listen: needs a value");
    assertThatThrownBy(in::check).isInstanceOfSatisfying(ConfigException.class,
        e -> assertThat(e.problems()).hasSize(4));
  }

  @Test
  void atFilesAreNotExpanded() {
    Inputs in = command().read(new String[] {"--listen", "@/etc/passwd"}, Map.of());
    assertThat(in.text(LISTEN)).isEqualTo("@/etc/passwd");
  }

  @Test
  void helpIsAskedForWithHelpOrH() {
    assertThat(command().read(new String[] {"--help"}, Map.of()).help()).isTrue();
    assertThat(command().read(new String[] {"-h"}, Map.of()).help()).isTrue();
    assertThat(command().wantsHelp(new String[] {"--bogus", "-h"})).isTrue();
    assertThat(command().wantsHelp(new String[] {"--listen", "h:1"})).isFalse();
  }

  @Test
  void theHelpNamesEveryFlagItsVariableAndTheVariablesWithoutFlags() {
    String usage = command().usage();
    assertThat(usage).contains("java -jar rk.jar", "--listen=HOST:PORT", "where, default 127.0.0.1:1 (RK_LISTEN)",
        "--upstream=NAME=URL", "(RK_UPSTREAMS)", "--elect[=BOOL]", "(RK_ELECT)", "RK_ONLY_ENV", "a variable without a flag",
        "-h, --help", "Footer line.");
  }
}
