package dev.ratekeeper.sidecar;

import dev.ratekeeper.cli.ConfigException;
import dev.ratekeeper.sidecar.config.SidecarConfig;
import dev.ratekeeper.sidecar.runtime.Sidecar;
import dev.ratekeeper.policy.compile.PolicyCodec;
import dev.ratekeeper.policy.compile.PolicyDocument;
import io.vertx.core.Vertx;
import java.util.concurrent.CompletableFuture;
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
    // Independent start-up work overlaps the parsing of flags (time to ready): the event loops start
    // on one thread, the policy codecs build their parsers and deserializers on another.
    CompletableFuture<Vertx> starting = CompletableFuture.supplyAsync(Vertx::vertx, SidecarMain::startThread);
    CompletableFuture.runAsync(SidecarMain::preparePolicyCodecs, SidecarMain::startThread);
    SidecarConfig config;
    try {
      config = SidecarConfig.fromProcess(args);
    } catch (ConfigException e) {
      System.err.println("ratekeeper-sidecar: cannot start:");
      e.problems().forEach(p -> System.err.println("  " + p));
      System.err.println("(--help lists every flag)");
      System.exit(2);
      return;
    } catch (RuntimeException e) {
      // the event loops may be running already: exit rather than leave them keeping the process up
      e.printStackTrace();
      System.exit(1);
      return;
    }
    Vertx vertx = starting.join();
    try {
      Sidecar sidecar = Sidecar.start(vertx, config, dev.ratekeeper.sidecar.time.SidecarClock.SYSTEM).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      if (config.exitWhenReady()) {
        System.exit(dev.ratekeeper.sidecar.runtime.TrainingRun.run(sidecar, vertx, config));
        return;
      }
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        sidecar.close();
        vertx.close();
      }, "ratekeeper-shutdown"));
    } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
      // the event loops would keep the process up: exit, so that it is restarted (or a build step fails)
      System.err.println("ratekeeper-sidecar: cannot start: " + (e instanceof java.util.concurrent.ExecutionException
          ? e.getCause().getMessage() : "not started after 30 s (is Redis answering?)"));
      vertx.close();
      System.exit(1);
    }
  }

  private static void startThread(Runnable work) {
    // not a daemon: threads it starts (the event loops) inherit that, and must keep the process alive
    new Thread(work, "ratekeeper-start").start();
  }

  /** Whichever way the policy comes (a file, or compiled JSON from Redis), its first read is then fast. */
  private static void preparePolicyCodecs() {
    try {
      PolicyDocument.prepare();
      PolicyCodec.prepare();
    } catch (RuntimeException e) {
      // only a head start: the policy's real read reports any problem
    }
  }
}
