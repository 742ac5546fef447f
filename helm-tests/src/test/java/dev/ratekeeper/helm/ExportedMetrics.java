package dev.ratekeeper.helm;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The Prometheus series names the programs export, derived from their source: every
 * {@code Counter/Timer/Gauge/MultiGauge.builder("name")} in the metrics classes is registered the
 * same way in a Micrometer Prometheus registry, which then names it exactly as the programs do.
 */
final class ExportedMetrics {
  static final List<Path> SOURCES = List.of(Repo.SIDECAR_METRICS, Repo.OPERATOR_METRICS, Repo.WEBHOOK_METRICS);
  private static final Pattern BUILDER = Pattern.compile(
      "\\b(Counter|Timer|Gauge|MultiGauge)\\s*\\.\\s*builder\\(\\s*\"([a-z0-9_.]+)\"([^;]*);", Pattern.DOTALL);
  /** SidecarMetrics declares its tagged counters as families of a name: new Family("name", ...). */
  private static final Pattern COUNTER_HELPER = Pattern.compile(
      "\\b(?:counter|new\\s+Family)\\(\\s*\"(ratekeeper\\.[a-z0-9_.]+)\"");
  private static final Pattern BASE_UNIT = Pattern.compile("\\.baseUnit\\(\\s*\"([a-z]+)\"");

  /** A meter as declared in the source. */
  record Declared(Path source, String type, String name, String baseUnit, boolean histogram) {}

  private ExportedMetrics() {}

  static List<Declared> declared() {
    List<Declared> out = new java.util.ArrayList<>();
    for (Path source : SOURCES) {
      Matcher m = BUILDER.matcher(Repo.read(source));
      while (m.find()) {
        String chain = m.group(3);
        Matcher unit = BASE_UNIT.matcher(chain);
        out.add(new Declared(source, m.group(1), m.group(2), unit.find() ? unit.group(1) : null,
            chain.contains("publishPercentileHistogram")));
      }
      Matcher helper = COUNTER_HELPER.matcher(Repo.read(source));
      while (helper.find()) {
        out.add(new Declared(source, "Counter", helper.group(1), null, false));
      }
    }
    return out;
  }

  /** Every series name (histograms' _bucket/_count/_sum/_max included) the declared meters produce. */
  static Set<String> seriesNames() {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    for (Declared d : declared()) {
      switch (d.type()) {
        case "Counter" -> Counter.builder(d.name()).baseUnit(d.baseUnit()).register(registry).increment();
        case "Timer" -> {
          Timer.Builder b = Timer.builder(d.name());
          if (d.histogram()) {
            b.publishPercentileHistogram();
          }
          b.register(registry).record(java.time.Duration.ofMillis(1));
        }
        default -> Gauge.builder(d.name(), () -> 1).baseUnit(d.baseUnit()).register(registry);
      }
    }
    Set<String> names = new TreeSet<>();
    for (String line : registry.scrape().split("\n")) {
      if (!line.isBlank() && !line.startsWith("#")) {
        names.add(line.split("[{ ]", 2)[0]);
      }
    }
    registry.close();
    return names;
  }

  /** The ratekeeper_* names a PromQL expression (or any text) refers to. */
  static Set<String> referencedIn(String promql) {
    Set<String> names = new TreeSet<>();
    Matcher m = Pattern.compile("\\bratekeeper_[a-z0-9_]+").matcher(promql);
    while (m.find()) {
      names.add(m.group());
    }
    return names;
  }
}
