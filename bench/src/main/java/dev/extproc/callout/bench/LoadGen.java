package dev.extproc.callout.bench;

import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.List;

/**
 * A load generator for any ext_proc server: it opens one stream per simulated HTTP request and
 * sends what Envoy sends for it (see {@link Scenario}), in a closed loop ({@code --concurrency}
 * streams in flight) or an open one ({@code --rate} streams per second), over plaintext or TLS,
 * checks the type of every reply, and prints a table (standard error) and one JSON line (standard
 * output): streams and messages per second, latency percentiles, errors, and with {@code
 * --server-pid} the server's CPU time per stream. With {@code --repeat N}, N windows after one
 * warm-up, each printed, then their median.
 *
 * <pre>
 * java -cp target/callout-bench.jar dev.extproc.callout.bench.LoadGen \
 *     --target 127.0.0.1:8080 --scenario headers --concurrency 32 --duration 10s
 * </pre>
 */
public final class LoadGen {

  /** Exit code when a stream of the window failed. */
  static final int EXIT_ERRORS = 1;

  /** Exit code for a bad flag or value. */
  static final int EXIT_USAGE = 2;

  private LoadGen() {}

  /** Runs the load described by {@code args}; {@code --help} lists the flags. */
  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  /** Runs the load and returns the exit code. */
  static int run(String[] args, PrintStream out, PrintStream err) {
    if (Arrays.asList(args).contains("--help")) {
      out.print(LoadOptions.USAGE);
      return 0;
    }
    LoadOptions options;
    try {
      options = LoadOptions.parse(args);
    } catch (IllegalArgumentException e) {
      err.println("loadgen: " + e.getMessage());
      return EXIT_USAGE;
    }
    Windows result;
    try {
      result = new Windows(run(options));
    } catch (IllegalStateException | UncheckedIOException e) {
      err.println("loadgen: " + e.getMessage());
      return EXIT_ERRORS;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      err.println("loadgen: interrupted");
      return EXIT_ERRORS;
    }
    err.print(result.toTable());
    result.jsonLines().forEach(out::println);
    return result.errors() == 0 ? 0 : EXIT_ERRORS;
  }

  /**
   * Runs the load described by {@code options} and returns what each window came to.
   *
   * @throws IllegalStateException if the server cannot be reached
   * @throws UncheckedIOException if the server process's CPU time cannot be read
   */
  static List<LoadResult> run(LoadOptions options) throws InterruptedException {
    ProcessCpu server = null;
    if (options.serverPid() > 0) {
      server = new ProcessCpu(options.serverPid());
      server.snapshot(); // fails now, not after the warm-up, if the process is not there
    }
    Script script =
        options
            .scenario()
            .script(new EnvoyMessages(options.headers(), options.bodySize(), options.chunks()));
    ProcessCpu self = new ProcessCpu(ProcessHandle.current().pid());
    try {
      self.snapshot();
    } catch (UncheckedIOException noProc) {
      self = null; // not Linux: the own CPU time goes unreported
    }
    Connections connections = Connections.open(options);
    try {
      return new LoadRun(options, script, connections.list()).execute(server, self);
    } finally {
      connections.close();
    }
  }
}
