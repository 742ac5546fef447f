package dev.ratekeeper.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

/**
 * A program's command line: its settings, read from flags by picocli (built through its
 * programmatic API: no annotation scanning, so it costs a few milliseconds at start) and from
 * the environment for every flag not given. Every program reads its settings this way, so the rules
 * are the same everywhere (see {@link Inputs}).
 *
 * <p>picocli's own extras are off: no {@code @file} expansion, no variable interpolation, no
 * abbreviated flags. {@code --help} and {@code -h} ask for the help.
 */
public final class Command {
  private static final int WIDTH = 110;

  private final String name;
  private final String synopsis;
  private final List<Setting> settings = new ArrayList<>();
  private final List<String> footer = new ArrayList<>();

  private Command(String name, String synopsis) {
    this.name = name;
    this.synopsis = synopsis;
  }

  /** A command; {@code synopsis} is how it is run, such as {@code java -jar ratekeeper-sidecar.jar}. */
  public static Command named(String name, String synopsis) {
    return new Command(name, synopsis);
  }

  public Command add(Setting... more) {
    settings.addAll(List.of(more));
    return this;
  }

  public Command add(List<Setting> more) {
    settings.addAll(more);
    return this;
  }

  /** Lines printed after the flags. */
  public Command footer(String... lines) {
    footer.addAll(List.of(lines));
    return this;
  }

  public String name() {
    return name;
  }

  /**
   * Reads {@code args}, then {@code env} for what they leave out. Problems with the command line
   * itself (unknown flags, a missing value, a flag given twice) are recorded in the result, to be
   * reported with the problems found in the values.
   */
  public Inputs read(String[] args, Map<String, String> env) {
    Map<String, List<String>> given = new LinkedHashMap<>(); // by variable name
    List<String> problems = new ArrayList<>();
    Map<String, Setting> byFlag = new LinkedHashMap<>();
    for (Setting s : settings) {
      if (s.flag() != null) {
        byFlag.put(s.flag(), s);
      }
    }
    CommandLine line = commandLine();
    ParseResult result = line.parseArgs(args);
    String previousUnknown = null;
    for (String arg : result.unmatched()) {
      if (arg.startsWith("-")) {
        String flag = arg.contains("=") ? arg.substring(0, arg.indexOf('=')) : arg;
        problems.add("unknown flag " + flag);
        previousUnknown = arg.contains("=") ? null : flag;
      } else if (previousUnknown != null) {
        previousUnknown = null; // the value of the unknown flag before it
      } else {
        problems.add("unexpected argument \"" + arg + "\" (every setting is a --flag)");
      }
    }
    for (Exception e : result.errors()) {
      problems.add(describe(e));
    }
    for (OptionSpec option : new LinkedHashSet<>(result.matchedOptions())) { // one entry per occurrence
      Setting s = byFlag.get(option.longestName());
      if (s == null) {
        continue; // --help
      }
      List<String> values = new ArrayList<>();
      for (Object v : (List<?>) option.getValue()) {
        values.add(String.valueOf(v).strip());
      }
      if (values.size() > 1 && s.kind() != Setting.Kind.REPEATABLE) {
        problems.add(s.flag() + ": given more than once");
      }
      given.put(s.env(), values);
    }
    return new Inputs(given, env, problems, result.isUsageHelpRequested());
  }

  /** Whether {@code args} ask for the help (whatever else is wrong with them). */
  public boolean wantsHelp(String[] args) {
    for (String arg : args) {
      if (arg.equals("--help") || arg.equals("-h")) {
        return true;
      }
      if (arg.equals("--")) {
        return false;
      }
    }
    return false;
  }

  /** The help: how to run, then each flag with its variable and default, then the variables without flags. */
  public String usage() {
    StringBuilder out = new StringBuilder(commandLine().getUsageMessage(CommandLine.Help.Ansi.OFF));
    out.append(variablesHelp());
    for (String line : footer) {
      out.append(line).append('\n');
    }
    return out.toString();
  }

  /** The settings that are variables only, one a line with its description. */
  public String variablesHelp() {
    StringBuilder out = new StringBuilder();
    List<Setting> variables = settings.stream().filter(s -> s.flag() == null).toList();
    int width = variables.stream().mapToInt(s -> s.env().length()).max().orElse(0) + 2;
    for (Setting s : variables) {
      out.append("  ").append(String.format("%-" + width + "s", s.env())).append(s.description()).append('\n');
    }
    return out.toString();
  }

  private CommandLine commandLine() {
    CommandSpec spec = CommandSpec.create().name(synopsis);
    spec.usageMessage().width(WIDTH).abbreviateSynopsis(true).sortOptions(false).showEndOfOptionsDelimiterInUsageHelp(false);
    spec.interpolateVariables(false);
    for (Setting s : settings) {
      if (s.flag() == null) {
        continue;
      }
      OptionSpec.Builder option = OptionSpec.builder(s.flag())
          .type(List.class).auxiliaryTypes(String.class)
          .paramLabel(s.label())
          .description(s.description() + " (" + s.env() + ")");
      if (s.kind() == Setting.Kind.SWITCH) {
        option.arity("0..1").fallbackValue("true");
      } else {
        option.arity("1");
      }
      spec.addOption(option.build());
    }
    spec.addOption(OptionSpec.builder("--help", "-h").usageHelp(true).description("this help").build());
    CommandLine line = new CommandLine(spec);
    line.setExpandAtFiles(false);
    line.setUnmatchedArgumentsAllowed(true);
    line.setAbbreviatedOptionsAllowed(false);
    line.setTrimQuotes(false);
    line.setOverwrittenOptionsAllowed(true);
    spec.parser().collectErrors(true);
    return line;
  }

  private static String describe(Exception e) {
    if (e instanceof CommandLine.MissingParameterException missing && !missing.getMissing().isEmpty()
        && missing.getMissing().get(0) instanceof OptionSpec option) {
      return option.longestName() + ": needs a value";
    }
    return e.getMessage();
  }
}
