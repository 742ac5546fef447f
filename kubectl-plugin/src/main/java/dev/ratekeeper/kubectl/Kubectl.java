package dev.ratekeeper.kubectl;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs kubectl itself for every call, so the plugin authenticates exactly as the user's kubectl does
 * (client certificates, tokens, exec and OIDC credential plugins, contexts) and holds no credentials
 * of its own.
 */
public class Kubectl {
  /** What one kubectl run printed. */
  public record Result(int exit, String out, String err) {
    public boolean ok() {
      return exit == 0;
    }
  }

  private static final long TIMEOUT_SECONDS = 60;
  /** Larger answers are cut off: the API's biggest (explain of a policy with many models) is a few KiB. */
  private static final int MAX_OUTPUT = 8 * 1024 * 1024;

  private final String binary;
  private final List<String> globalFlags;

  /**
   * @param binary the kubectl to run ({@code $KUBECTL}, else {@code kubectl} on PATH)
   * @param globalFlags flags every call carries ({@code --kubeconfig}, {@code --context})
   */
  public Kubectl(String binary, List<String> globalFlags) {
    this.binary = binary;
    this.globalFlags = List.copyOf(globalFlags);
  }

  /** {@code kubectl get --raw <path>}: a GET through the API server, as the user. */
  public Result getRaw(String path) {
    return run(List.of("get", "--raw", path));
  }

  public Result run(List<String> args) {
    List<String> command = new ArrayList<>();
    command.add(binary);
    command.addAll(globalFlags);
    command.addAll(args);
    try {
      Process process = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.INHERIT).start();
      CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> read(process.getInputStream()));
      CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(process.getErrorStream()));
      if (!process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        return new Result(124, "", binary + " did not answer within " + TIMEOUT_SECONDS + "s");
      }
      return new Result(process.exitValue(), out.join(), err.join());
    } catch (IOException e) {
      return new Result(127, "", "cannot run " + binary + ": " + e.getMessage()
          + " (kubectl ratekeeper runs kubectl; put it on PATH or set KUBECTL)");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return new Result(130, "", "interrupted");
    }
  }

  private static String read(InputStream in) {
    try (in) {
      ByteArrayOutputStream buffer = new ByteArrayOutputStream();
      byte[] chunk = new byte[8192];
      int n;
      while ((n = in.read(chunk)) >= 0) {
        if (buffer.size() < MAX_OUTPUT) {
          buffer.write(chunk, 0, Math.min(n, MAX_OUTPUT - buffer.size()));
        }
      }
      return buffer.toString(StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
