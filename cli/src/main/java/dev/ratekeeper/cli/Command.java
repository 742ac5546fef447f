package dev.ratekeeper.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * A program's command line: its settings, read from flags and from the environment for every flag
 * not given. Every program reads its settings this way, so the rules are the same everywhere (see
 * {@link Inputs}).
 *
 * <p>The flags are read by {@link #read} itself, with the rules picocli applies to this command's
 * options (a flag's value is the next argument unless that names a flag; {@code --} ends the
 * flags; no {@code @file} expansion, no variable interpolation, no abbreviated flags): picocli
 * renders the help, and {@code CommandTest} checks the two agree on every command line of a large
 * generated set. Reading flags without picocli keeps its ~130 classes, which no class-data
 * archive can hold (they are compiled for Java 5), off the programs' start.
 * {@code --help} and {@code -h} ask for the help.
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
    Map<String, Setting> byFlag = new LinkedHashMap<>();
    for (Setting s : settings) {
      if (s.flag() != null) {
        byFlag.put(s.flag(), s);
      }
    }
    Map<String, List<String>> given = new LinkedHashMap<>(); // by variable name, in the order first given
    List<String> unmatched = new ArrayList<>();
    List<String> flagProblems = new ArrayList<>(); // reported after what is unmatched; repeats last
    List<String> repeated = new ArrayList<>();
    boolean help = false;
    boolean optionsEnded = false;
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (optionsEnded) {
        unmatched.add(arg);
        continue;
      }
      if (arg.equals("--")) {
        optionsEnded = true;
        continue;
      }
      int eq = arg.indexOf('=');
      String name = eq < 0 ? arg : arg.substring(0, eq);
      if (isHelp(name)) {
        help = true;
        if (eq >= 0) {
          flagProblems.add(name + ": takes no value");
        }
        continue;
      }
      if (isHelpCluster(arg)) { // -hh: short options run together; only -h exists
        help = true;
        if (!arg.substring(1).chars().allMatch(c -> c == 'h')) {
          flagProblems.add("unknown flag " + arg);
        }
        continue;
      }
      Setting s = byFlag.get(name);
      if (s == null) {
        unmatched.add(arg);
        continue;
      }
      String value;
      if (eq >= 0 && !namesOption(arg.substring(eq + 1), byFlag)) {
        value = arg.substring(eq + 1);
      } else if (eq >= 0) { // --upstream=--listen: a flag where its value should be, as picocli refuses it
        flagProblems.add(s.flag() + ": needs a value");
        continue;
      } else if (i + 1 < args.length && !namesOption(args[i + 1], byFlag)) {
        value = args[++i];
      } else if (s.kind() == Setting.Kind.SWITCH) {
        value = "true";
      } else {
        flagProblems.add(s.flag() + ": needs a value");
        continue;
      }
      List<String> values = given.computeIfAbsent(s.env(), k -> new ArrayList<>());
      values.add(value.strip());
      if (values.size() == 2 && s.kind() != Setting.Kind.REPEATABLE) {
        repeated.add(s.flag() + ": given more than once");
      }
    }
    List<String> problems = new ArrayList<>();
    String previousUnknown = null;
    for (String arg : unmatched) {
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
    problems.addAll(flagProblems);
    problems.addAll(repeated);
    return new Inputs(given, env, problems, help);
  }

  private static boolean isHelp(String name) {
    return name.equals("--help") || name.equals("-h");
  }

  private static boolean isHelpCluster(String arg) {
    return arg.startsWith("-h") && arg.length() > 2 && arg.charAt(2) != '=';
  }

  /** Whether an argument after a flag is another flag (or the end of flags) rather than the flag's value. */
  private static boolean namesOption(String arg, Map<String, Setting> byFlag) {
    if (arg.equals("--")) {
      return true;
    }
    int eq = arg.indexOf('=');
    String name = eq < 0 ? arg : arg.substring(0, eq);
    return isHelp(name) || isHelpCluster(arg) || byFlag.containsKey(name);
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

  /** The command as picocli models it: renders the help (and, in tests, reads flags as the reference). */
  CommandLine commandLine() {
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
}
