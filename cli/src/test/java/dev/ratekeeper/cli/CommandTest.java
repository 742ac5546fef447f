package dev.ratekeeper.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

/** How every program's command line is read: flags (as picocli reads them), variables for the flags not given. */
class CommandTest {
  static final Setting LISTEN = Setting.value("--listen", "RK_LISTEN", "HOST:PORT", "where, default 127.0.0.1:1");
  static final Setting UPSTREAM = Setting.repeatable("--upstream", "RK_UPSTREAMS", "NAME=URL", "repeatable");
  static final Setting ELECT = Setting.flagSwitch("--elect", "RK_ELECT", "elect a leader, default false");
  static final Setting ONLY_ENV = Setting.variable("RK_ONLY_ENV", "a variable without a flag");
  // flags that share a prefix with others, and a second switch
  static final Setting UPSTREAM_TIMEOUT = Setting.value("--upstream-timeout", "RK_UPSTREAM_TIMEOUT", "DUR", "t");
  static final Setting EXIT = Setting.flagSwitch("--exit-when-ready", "RK_EXIT", "exit once ready");
  static final List<Setting> FLAGS = List.of(LISTEN, UPSTREAM, ELECT, UPSTREAM_TIMEOUT, EXIT);

  static Command command() {
    return Command.named("rk", "java -jar rk.jar").add(LISTEN, UPSTREAM, ELECT, ONLY_ENV, UPSTREAM_TIMEOUT, EXIT)
        .footer("Footer line.");
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

  /** Arguments the generated command lines are made of: flags of each kind in each form, help, the end of flags, values that look like flags. */
  private static final String[] WORDS = {"--listen", "--listen=h:1", "--listen=", "--listen=a=b", "--upstream", "--upstream=b=u",
      "--elect", "--elect=false", "--elect=", "--help", "-h", "--help=x", "-hx", "--", "--bogus", "--bogus=1", "-x", "-",
      "v", "", " w ", "true", "false", "a=b", "--=x", "---listen", "--LISTEN", "@file", "--RK_LISTEN", "--list", "-hh", "-h=1", "-hx=1",
      "--upstream-timeout", "--upstream-timeout=5s", "--upstream-time", "--exit-when-ready", "--exit-when-ready=false",
      "--exit", "--upstream=--listen", "--elect=--listen", "--listen=-x", "--listen=--", "--elect=-h", "-5", "-1s",
      "---", "-H", "-h-", "-help", "--he", "=", "==", "=x", "  ", "-x=1", "--listen\t", "\"--listen\"", "'a'",
      "-hlisten", "\u2014listen", "-e", "--e"};

  @Test
  void flagsAreReadAsPicocliReadsThem() {
    Random random = new Random(20261203);
    int compared = 0;
    int clean = 0;
    for (int n = 0; n < 50_000; n++) {
      String[] args = new String[random.nextInt(7)];
      for (int i = 0; i < args.length; i++) {
        args[i] = WORDS[random.nextInt(WORDS.length)];
      }
      Inputs ours = command().read(args, Map.of());
      Reference theirs = picocliRead(command(), args);
      String line = String.join(" ", List.of(args).stream().map(a -> "'" + a + "'").toList());
      assertThat(ours.problems().isEmpty()).as("problems with %s: ours %s, picocli's %s", line, ours.problems(),
          theirs.problems()).isEqualTo(theirs.problems().isEmpty());
      if (theirs.problems().isEmpty()) {
        assertThat(ours.given()).as("flags of %s", line).isEqualTo(theirs.given());
        assertThat(ours.help()).as("help of %s", line).isEqualTo(theirs.help());
        clean++;
      } else if (List.of(args).stream().noneMatch(a -> a.startsWith("-h") && a.length() > 2 && !a.startsWith("-h=")
          || a.startsWith("--") && a.contains("=-"))) {
        // the same words for the same problems (picocli words the run-together short options -hx its own
        // way, and reads --listen=-- as --listen without a value followed by the end of the flags)
        for (String problem : theirs.problems()) {
          if (problem.startsWith("unknown flag ") && !problem.contains("(")
              || problem.startsWith("unexpected argument") || problem.endsWith(": given more than once")) {
            assertThat(ours.problems()).as("problems of %s", line).contains(problem);
          }
        }
      }
      compared++;
    }
    assertThat(compared).isEqualTo(50_000);
    assertThat(clean).as("command lines without problems among them").isGreaterThan(2_000);
  }

  private record Reference(Map<String, List<String>> given, List<String> problems, boolean help) {}

  /** How picocli reads the command line (the reading Command.read follows), with Command's own reporting of what it leaves unmatched. */
  private static Reference picocliRead(Command command, String[] args) {
    Map<String, List<String>> given = new LinkedHashMap<>();
    List<String> problems = new ArrayList<>();
    ParseResult result = command.commandLine().parseArgs(args);
    String previousUnknown = null;
    for (String arg : result.unmatched()) {
      if (arg.startsWith("-")) {
        String flag = arg.contains("=") ? arg.substring(0, arg.indexOf('=')) : arg;
        problems.add("unknown flag " + flag);
        previousUnknown = arg.contains("=") ? null : flag;
      } else if (previousUnknown != null) {
        previousUnknown = null;
      } else {
        problems.add("unexpected argument \"" + arg + "\" (every setting is a --flag)");
      }
    }
    for (Exception e : result.errors()) {
      problems.add(e.getMessage());
    }
    for (OptionSpec option : new LinkedHashSet<>(result.matchedOptions())) {
      if (option.usageHelp()) {
        continue;
      }
      List<String> values = new ArrayList<>();
      for (Object v : (List<?>) option.getValue()) {
        values.add(String.valueOf(v).strip());
      }
      Setting setting = FLAGS.stream().filter(f -> f.flag().equals(option.longestName())).findFirst().orElseThrow();
      if (values.size() > 1 && setting.kind() != Setting.Kind.REPEATABLE) {
        problems.add(option.longestName() + ": given more than once");
      }
      given.put(setting.env(), values);
    }
    return new Reference(given, problems, result.isUsageHelpRequested());
  }
}
