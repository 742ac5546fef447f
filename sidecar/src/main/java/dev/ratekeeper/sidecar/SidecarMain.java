package dev.ratekeeper.sidecar;

import dev.ratekeeper.cli.ConfigException;
import dev.ratekeeper.sidecar.config.SidecarConfig;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import io.vertx.core.Vertx;
import java.util.concurrent.TimeUnit;

/** {@code java -jar ratekeeper-sidecar.jar}: parses flags and environment, starts the sidecar, or says what is wrong. */
public final class SidecarMain {
  private SidecarMain() {}

  public static void main(String[] args) throws Exception {
    // one line a record: time, level, message
    System.setProperty("java.util.logging.SimpleFormatter.format", "%1$tF %1$tT.%1$tL %4$s %5$s%6$s%n");
    if (SidecarConfig.COMMAND.wantsHelp(args)) {
      System.out.print(SidecarConfig.usage());
      return;
    }
    SidecarConfig config;
    try {
      config = SidecarConfig.fromProcess(args);
    } catch (ConfigException e) {
      System.err.println("ratekeeper-sidecar: cannot start:");
      e.problems().forEach(p -> System.err.println("  " + p));
      System.err.println("(--help lists every flag)");
      System.exit(2);
      return;
    }
    Vertx vertx = Vertx.vertx();
    try {
      Sidecar sidecar = Sidecar.start(vertx, config).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        sidecar.close();
        vertx.close();
      }, "ratekeeper-shutdown"));
    } catch (java.util.concurrent.ExecutionException e) {
      System.err.println("ratekeeper-sidecar: cannot start: " + e.getCause().getMessage());
      vertx.close();
      System.exit(1);
    }
  }
}
