package dev.extproc.callout.bench;

import dev.extproc.callout.samples.Json;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.HdrHistogram.Histogram;
import org.jspecify.annotations.Nullable;

/**
 * The outcome of one load run over its measured window, with its two printed forms: a table for
 * people and one JSON line for scripts. Latencies are per stream in microseconds, from the stream's
 * (intended) start to its last reply.
 *
 * @param streams streams begun in the window that ended, whatever their outcome
 * @param messages ext_proc request messages those streams sent
 * @param bodyBytes body bytes (request and response body chunks) those streams sent
 * @param latencyNanos the latency of each stream that ended well
 * @param startLagNanos open loop: how late after its intended time each stream started
 * @param serverCpuNanos the server process's CPU time over the window; -1 when not measured
 * @param clientCpuNanos the load generator's own CPU time over the window; -1 when not measured
 */
record LoadResult(
    LoadOptions options,
    double windowSeconds,
    long streams,
    long ok,
    long immediateResponses,
    long typeMismatches,
    long failedStreams,
    long timeouts,
    long messages,
    long bodyBytes,
    Histogram latencyNanos,
    Histogram startLagNanos,
    long serverCpuNanos,
    String serverCpuSource,
    long clientCpuNanos,
    @Nullable String firstError) {

  long errors() {
    return typeMismatches + failedStreams + timeouts;
  }

  double streamsPerSecond() {
    return streams / windowSeconds;
  }

  double messagesPerSecond() {
    return messages / windowSeconds;
  }

  /** The latency at {@code percentile} (0..100) in microseconds; 0 with no stream recorded. */
  double latencyMicros(double percentile) {
    return latencyNanos.getTotalCount() == 0
        ? 0
        : latencyNanos.getValueAtPercentile(percentile) / 1000.0;
  }

  double maxLatencyMicros() {
    return latencyNanos.getMaxValue() / 1000.0;
  }

  double bodyBytesPerSecond() {
    return bodyBytes / windowSeconds;
  }

  /**
   * Body bytes through the server per second of its CPU time, in GB (10^9 bytes): the throughput
   * one fully busy server core would reach; -1 when not measured or no body went through.
   */
  double serverGigabytesPerCpuSecond() {
    return serverCpuNanos <= 0 || bodyBytes == 0 ? -1 : (double) bodyBytes / serverCpuNanos;
  }

  /** Open loop: the start lag at {@code percentile} (0..100) in microseconds; 0 with none. */
  double startLagMicros(double percentile) {
    return startLagNanos.getTotalCount() == 0
        ? 0
        : startLagNanos.getValueAtPercentile(percentile) / 1000.0;
  }

  /** Server CPU microseconds per stream, or -1 when not measured or no stream ended. */
  double serverCpuMicrosPerStream() {
    return serverCpuNanos < 0 || streams == 0 ? -1 : serverCpuNanos / 1000.0 / streams;
  }

  /** The load generator's own CPU microseconds per stream, or -1 when not measured. */
  double clientCpuMicrosPerStream() {
    return clientCpuNanos < 0 || streams == 0 ? -1 : clientCpuNanos / 1000.0 / streams;
  }

  String mode() {
    return options.isOpenLoop() ? "open" : "closed";
  }

  /** One line of JSON with every number; null for what was not measured. */
  String toJson() {
    return Json.text(jsonFields());
  }

  /** The fields of {@link #toJson}, in order. */
  Map<String, @Nullable Object> jsonFields() {
    boolean open = options.isOpenLoop();
    boolean serverMeasured = serverCpuMicrosPerStream() >= 0;
    boolean bodies = options.scenario().hasBodies() && options.bodySize() > 0;
    double client = clientCpuMicrosPerStream();
    Map<String, @Nullable Object> json = new LinkedHashMap<>();
    json.put("scenario", options.scenario().flagName());
    json.put("mode", mode());
    json.put("target", options.target().toString());
    json.put("tls", options.tls());
    json.put("connections", options.connections());
    json.put("concurrency", open ? null : options.concurrency());
    json.put("rate", open ? number(options.rate()) : null);
    json.put("body_size", options.bodySize());
    json.put("chunks", options.chunks());
    json.put("warmup_s", number(options.warmup().toMillis() / 1000.0));
    json.put("duration_s", number(windowSeconds));
    json.put("streams", streams);
    json.put("streams_per_s", number(streamsPerSecond()));
    json.put("messages", messages);
    json.put("messages_per_s", number(messagesPerSecond()));
    json.put("body_bytes", bodies ? bodyBytes : null);
    json.put("body_bytes_per_s", bodies ? number(bodyBytesPerSecond()) : null);
    json.put("latency_unit", "us");
    json.put("p50_us", number(latencyMicros(50)));
    json.put("p90_us", number(latencyMicros(90)));
    json.put("p99_us", number(latencyMicros(99)));
    json.put("p999_us", number(latencyMicros(99.9)));
    json.put("max_us", number(maxLatencyMicros()));
    json.put("start_lag_p99_us", open ? number(startLagMicros(99)) : null);
    json.put("start_lag_max_us", open ? number(startLagNanos.getMaxValue() / 1000.0) : null);
    json.put("ok", ok);
    json.put("immediate_responses", immediateResponses);
    json.put("errors", errors());
    json.put("type_mismatches", typeMismatches);
    json.put("failed_streams", failedStreams);
    json.put("timeouts", timeouts);
    json.put("first_error", firstError);
    json.put("server_pid", serverMeasured ? options.serverPid() : null);
    json.put(
        "server_cpu_us_per_stream", serverMeasured ? number(serverCpuMicrosPerStream()) : null);
    json.put("server_cpu_source", serverMeasured ? serverCpuSource : null);
    json.put(
        "server_gb_per_cpu_s",
        bodies && serverGigabytesPerCpuSecond() >= 0
            ? number(serverGigabytesPerCpuSecond())
            : null);
    json.put("client_cpu_us_per_stream", client >= 0 ? number(client) : null);
    return json;
  }

  /** A few aligned lines for people. */
  String toTable() {
    StringBuilder table = new StringBuilder();
    String load =
        options.isOpenLoop()
            ? String.format(Locale.ROOT, "open loop at %.1f streams/s", options.rate())
            : String.format(
                Locale.ROOT, "closed loop, %d streams in flight", options.concurrency());
    line(
        table,
        "load",
        "%s: %s over %d connection(s) to %s (%s)",
        options.scenario().flagName(),
        load,
        options.connections(),
        options.target(),
        options.tls() ? "TLS" : "plaintext");
    line(
        table,
        "window",
        "%.1f s after %.1f s of warm-up",
        windowSeconds,
        options.warmup().toMillis() / 1000.0);
    line(table, "streams", "%-12d %12.1f /s", streams, streamsPerSecond());
    line(
        table,
        "messages",
        "%-12d %12.1f /s (ext_proc requests sent)",
        messages,
        messagesPerSecond());
    if (options.scenario().hasBodies() && options.bodySize() > 0) {
      line(
          table,
          "bodies",
          "%-12d %12.1f MB/s (body bytes sent, each through the server)",
          bodyBytes,
          bodyBytesPerSecond() / 1e6);
    }
    line(
        table,
        "latency",
        "p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (µs per stream)",
        latencyMicros(50),
        latencyMicros(90),
        latencyMicros(99),
        latencyMicros(99.9),
        maxLatencyMicros());
    if (options.isOpenLoop()) {
      line(
          table,
          "schedule",
          "streams started p99 %.1f  max %.1f µs after their intended time",
          startLagMicros(99),
          startLagNanos.getMaxValue() / 1000.0);
    }
    line(
        table,
        "errors",
        "%-12d (type mismatches %d, failed streams %d, timeouts %d)",
        errors(),
        typeMismatches,
        failedStreams,
        timeouts);
    line(table, "immediate", "%-12d (streams ended by an immediate_response)", immediateResponses);
    if (firstError != null) {
      line(table, "first error", "%s", firstError);
    }
    if (serverCpuMicrosPerStream() >= 0) {
      line(
          table,
          "server CPU",
          "%.2f µs per stream (pid %d, from %s)",
          serverCpuMicrosPerStream(),
          options.serverPid(),
          serverCpuSource);
    }
    if (options.scenario().hasBodies() && serverGigabytesPerCpuSecond() >= 0) {
      line(
          table,
          "server GB/s",
          "%.3f per core (body bytes per second of server CPU; %.2f ns per byte)",
          serverGigabytesPerCpuSecond(),
          1 / serverGigabytesPerCpuSecond());
    }
    if (clientCpuMicrosPerStream() >= 0) {
      line(
          table, "own CPU", "%.2f µs per stream (this load generator)", clientCpuMicrosPerStream());
    }
    return table.toString();
  }

  private static void line(StringBuilder table, String label, String format, Object... args) {
    table
        .append(String.format(Locale.ROOT, "%-13s", label))
        .append(String.format(Locale.ROOT, format, args))
        .append(System.lineSeparator());
  }

  /** Three decimals, written plainly (never in exponent form). */
  static BigDecimal number(double value) {
    return BigDecimal.valueOf(value).setScale(3, RoundingMode.HALF_UP);
  }
}
