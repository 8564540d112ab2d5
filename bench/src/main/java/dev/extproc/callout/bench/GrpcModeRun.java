package dev.extproc.callout.bench;

import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Bounded memory in GRPC body mode: starts the bundled samples server ({@code SampleMain}, default
 * sample {@code add-header}, whose bodies pass through) in a child JVM with a small heap, runs one
 * {@link GrpcModeCall} of a given size per direction through it, and reports the throughput, the
 * child's peak RSS ({@code VmHWM}) and the most heap it kept after a GC (from its {@code
 * -Xlog:gc}).
 *
 * <p>{@code java -cp target/callout-bench.jar dev.extproc.callout.bench.GrpcModeRun [MiB per
 * direction, default 256] [child -Xmx, default 64m]}; prints one line.
 */
public final class GrpcModeRun {
  private static final long MIB = 1024 * 1024;
  // "GC(3) Pause Young (Normal) (G1 Evacuation Pause) 20M->5M(64M) 3.456ms"
  private static final Pattern GC_LINE = Pattern.compile("(\\d+)([KMG])->(\\d+)([KMG])\\(");

  /** What one run measured. */
  record Result(GrpcModeCall.Outcome call, long peakRssKib, long maxHeapAfterGcKib, int gcs) {
    double mibPerSecondPerDirection() {
      return call.bytesPerDirection() / (double) MIB / (call.nanos() / 1e9);
    }

    @Override
    public String toString() {
      return String.format(
          Locale.ROOT,
          "GRPC mode, %d MiB per direction in %.1f s: %.1f MiB/s per direction (%.1f MiB/s both),"
              + " %d server_window_updates, at most %d KiB in flight; child peak RSS %.1f MiB,"
              + " most heap after a GC %.1f MiB (%d GCs)",
          call.bytesPerDirection() / MIB,
          call.nanos() / 1e9,
          mibPerSecondPerDirection(),
          2 * mibPerSecondPerDirection(),
          call.serverWindowUpdates(),
          call.maxInFlight() / 1024,
          peakRssKib / 1024.0,
          maxHeapAfterGcKib / 1024.0,
          gcs);
    }
  }

  private GrpcModeRun() {}

  public static void main(String[] args) throws Exception {
    long mib = args.length > 0 ? Long.parseLong(args[0]) : 256;
    String heap = args.length > 1 ? args[1] : "64m";
    System.out.println(run(mib * MIB, heap));
  }

  /** Runs one call of {@code bytesPerDirection} through a child server with {@code -Xmx heap}. */
  static Result run(long bytesPerDirection, String heap) throws IOException, InterruptedException {
    int port = freePort();
    Path gcLog = Files.createTempFile("grpc-mode-gc", ".log");
    Path output = Files.createTempFile("grpc-mode-server", ".log");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process server =
        new ProcessBuilder(
                List.of(
                    java,
                    "-Xmx" + heap,
                    "-Xlog:gc:file=" + gcLog,
                    "-cp",
                    System.getProperty("java.class.path"),
                    "dev.extproc.callout.samples.SampleMain",
                    "--plaintext-address",
                    "127.0.0.1:" + port,
                    "--disable-tls",
                    "--combined-health-check",
                    "--shutdown-drain-delay",
                    "0s"))
            .redirectErrorStream(true)
            .redirectOutput(output.toFile())
            .start();
    ManagedChannel channel =
        Grpc.newChannelBuilderForAddress("127.0.0.1", port, InsecureChannelCredentials.create())
            .build();
    try {
      GrpcModeCall.Outcome call = new GrpcModeCall(channel, bytesPerDirection).run();
      long peakRss = peakRssKib(server.pid());
      long[] gc = heapAfterGc(gcLog);
      return new Result(call, peakRss, gc[0], (int) gc[1]);
    } catch (IllegalStateException e) {
      throw new IllegalStateException(
          e.getMessage() + "; server log: " + Files.readString(output), e);
    } finally {
      channel.shutdownNow();
      server.destroy();
      if (!server.waitFor(30, TimeUnit.SECONDS)) {
        server.destroyForcibly();
      }
      Files.deleteIfExists(gcLog);
      Files.deleteIfExists(output);
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  /** The child's peak resident set ({@code VmHWM}), in KiB; -1 where {@code /proc} is missing. */
  private static long peakRssKib(long pid) throws IOException {
    Path status = Path.of("/proc", Long.toString(pid), "status");
    if (!Files.exists(status)) {
      return -1;
    }
    for (String line : Files.readAllLines(status)) {
      if (line.startsWith("VmHWM:")) {
        return Long.parseLong(line.replaceAll("\\D", ""));
      }
    }
    return -1;
  }

  /** The most heap in use after any GC of the log, in KiB, and the number of GCs. */
  private static long[] heapAfterGc(Path log) throws IOException {
    long max = 0;
    long count = 0;
    for (String line : Files.readAllLines(log)) {
      Matcher m = GC_LINE.matcher(line);
      if (m.find()) {
        count++;
        max = Math.max(max, kib(Long.parseLong(m.group(3)), m.group(4)));
      }
    }
    return new long[] {max, count};
  }

  private static long kib(long value, String unit) {
    return switch (unit) {
      case "G" -> value * 1024 * 1024;
      case "M" -> value * 1024;
      default -> value;
    };
  }
}
