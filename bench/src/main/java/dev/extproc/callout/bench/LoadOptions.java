package dev.extproc.callout.bench;

import com.google.common.net.HostAndPort;
import dev.extproc.callout.CalloutServer.Launcher;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The load generator's settings, from its command line.
 *
 * @param rate streams started per second in open loop; 0 for closed loop
 * @param repeat measured windows, back to back after one warm-up
 * @param serverPid the local server process whose CPU time is measured; 0 for none
 */
record LoadOptions(
    HostAndPort target,
    Scenario scenario,
    int connections,
    int concurrency,
    double rate,
    Duration warmup,
    Duration duration,
    int repeat,
    Duration timeout,
    int bodySize,
    int chunks,
    List<Map.Entry<String, String>> headers,
    boolean tls,
    boolean insecure,
    @Nullable Path ca,
    @Nullable String authority,
    long serverPid) {

  static final String USAGE =
      """
      Usage: java -cp target/callout-bench.jar dev.extproc.callout.bench.LoadGen [flags]

      Sends what Envoy sends for one HTTP request, one ext_proc stream per request, to any
      ext_proc server, and prints a table (standard error) and one JSON line (standard output).

        --target HOST:PORT        the ext_proc server (default 127.0.0.1:8080)
        --scenario NAME           headers | req-resp-headers | streamed | full-duplex
                                  (default headers)
        --concurrency N           closed loop: streams in flight (default 32)
        --rate R                  open loop instead: streams started per second, latency from
                                  each stream's intended start
        --connections K           HTTP/2 connections the streams share (default 1)
        --warmup DURATION         load before the measured window (default 5s)
        --duration DURATION       the measured window (default 10s)
        --repeat N                measure N windows back to back after the warm-up, print
                                  each and their median (default 1)
        --timeout DURATION        a stream not done by then is cancelled, an error (default 5s)
        --body-size BYTES         each body, request and response (default 64KiB)
        --chunks N                messages each body is cut into (default 4)
        --header NAME:VALUE       a request header to add or replace; repeatable
                                  (--header authorization:'Bearer TOKEN', --header :path:/api)
        --tls                     TLS instead of plaintext (h2c)
        --ca PATH                 with --tls: trust the PEM CA certificates in PATH
        --insecure                with --tls: trust any server certificate
        --authority NAME          the gRPC :authority and TLS server name to use
        --server-pid PID          measure this local process's CPU time per stream (Linux)
        --help                    print this and exit

      Durations take ms, s, m or h (500ms, 10s); sizes take a number of bytes, KiB or MiB.
      Exit code: 0 without errors, 1 when any stream failed, 2 for a bad flag.
      """;

  LoadOptions {
    headers = List.copyOf(headers);
  }

  /** Whether the load is an open loop (a fixed rate) rather than a closed one. */
  boolean isOpenLoop() {
    return rate > 0;
  }

  /**
   * Parses {@code args}.
   *
   * @throws IllegalArgumentException naming the flag, for an unknown flag or a bad value
   */
  static LoadOptions parse(String... args) {
    HostAndPort target = HostAndPort.fromParts("127.0.0.1", 8080);
    Scenario scenario = Scenario.HEADERS;
    int connections = 1;
    int concurrency = 32;
    double rate = 0;
    Duration warmup = Duration.ofSeconds(5);
    Duration duration = Duration.ofSeconds(10);
    int repeat = 1;
    Duration timeout = Duration.ofSeconds(5);
    int bodySize = 64 * 1024;
    int chunks = 4;
    List<Map.Entry<String, String>> headers = new ArrayList<>();
    boolean tls = false;
    boolean insecure = false;
    Path ca = null;
    String authority = null;
    long serverPid = 0;
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      String flag = arg.contains("=") ? arg.substring(0, arg.indexOf('=')) : arg;
      boolean isSwitch = flag.equals("--tls") || flag.equals("--insecure");
      String value;
      if (isSwitch && arg.contains("=")) {
        throw new IllegalArgumentException(flag + ": takes no value");
      } else if (isSwitch || !flag.startsWith("--")) {
        value = "";
      } else if (arg.contains("=")) {
        value = arg.substring(arg.indexOf('=') + 1);
      } else if (i + 1 < args.length) {
        value = args[++i];
      } else {
        throw new IllegalArgumentException(flag + ": missing value");
      }
      try {
        switch (flag) {
          case "--target" -> target = HostAndPort.fromString(value).requireBracketsForIPv6();
          case "--scenario" -> scenario = Scenario.named(value);
          case "--connections" -> connections = positive(Integer.parseInt(value.trim()));
          case "--concurrency" -> concurrency = positive(Integer.parseInt(value.trim()));
          case "--rate" -> rate = positiveRate(Double.parseDouble(value.trim()));
          case "--warmup" -> warmup = Launcher.duration(value);
          case "--duration" -> duration = positive(Launcher.duration(value));
          case "--repeat" -> repeat = positive(Integer.parseInt(value.trim()));
          case "--timeout" -> timeout = positive(Launcher.duration(value));
          case "--body-size" -> bodySize = Launcher.size(value);
          case "--chunks" -> chunks = positive(Integer.parseInt(value.trim()));
          case "--header" -> headers.add(header(value));
          case "--tls" -> tls = true;
          case "--insecure" -> insecure = true;
          case "--ca" -> ca = readable(Path.of(value));
          case "--authority" -> authority = value;
          case "--server-pid" -> serverPid = positive(Long.parseLong(value.trim()));
          default -> throw new IllegalArgumentException("unknown flag (see --help)");
        }
      } catch (IllegalArgumentException e) {
        String given = isSwitch || value.isEmpty() ? flag : flag + "=" + value;
        String why =
            e instanceof NumberFormatException ? "not a number" : String.valueOf(e.getMessage());
        throw new IllegalArgumentException(given + ": " + why, e);
      }
    }
    if (!target.hasPort()) {
      throw new IllegalArgumentException("--target=" + target + ": no port (expected HOST:PORT)");
    }
    if ((insecure || ca != null) && !tls) {
      throw new IllegalArgumentException("--insecure and --ca need --tls");
    }
    if (insecure && ca != null) {
      throw new IllegalArgumentException("--insecure and --ca: give one of them");
    }
    if (bodySize > 0 && bodySize < chunks) {
      throw new IllegalArgumentException(
          "--body-size=" + bodySize + ": smaller than --chunks=" + chunks);
    }
    return new LoadOptions(
        target,
        scenario,
        connections,
        concurrency,
        rate,
        warmup,
        duration,
        repeat,
        timeout,
        bodySize,
        chunks,
        headers,
        tls,
        insecure,
        ca,
        authority,
        serverPid);
  }

  /** {@code name:value}; a pseudo-header's name keeps its leading colon ({@code :path:/x}). */
  private static Map.Entry<String, String> header(String text) {
    int colon = text.indexOf(':', text.startsWith(":") ? 1 : 0);
    if (colon <= (text.startsWith(":") ? 1 : 0)) {
      throw new IllegalArgumentException("expected NAME:VALUE");
    }
    return Map.entry(
        text.substring(0, colon).trim().toLowerCase(Locale.ROOT), text.substring(colon + 1).trim());
  }

  private static Path readable(Path path) {
    if (!Files.isReadable(path)) {
      throw new IllegalArgumentException("cannot read it");
    }
    return path;
  }

  private static int positive(int value) {
    if (value <= 0) {
      throw new IllegalArgumentException("expected: > 0");
    }
    return value;
  }

  private static long positive(long value) {
    if (value <= 0) {
      throw new IllegalArgumentException("expected: > 0");
    }
    return value;
  }

  private static double positiveRate(double value) {
    if (!(value > 0) || Double.isInfinite(value)) {
      throw new IllegalArgumentException("expected: > 0");
    }
    return value;
  }

  private static Duration positive(Duration value) {
    if (value.isZero()) {
      throw new IllegalArgumentException("expected: > 0");
    }
    return value;
  }
}
