package dev.extproc.callout.bench;

import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Recorder;
import org.jspecify.annotations.Nullable;

/**
 * What the streams of one measured window came to: outcome counts, messages, body bytes, the
 * latency of each stream that ended well, and in open loop how late each stream started against its
 * intended time, in histograms (HdrHistogram, 3 significant digits). Safe for the transport threads
 * to record into concurrently.
 */
final class Measurement {

  private final LongAdder ok = new LongAdder();
  private final LongAdder immediate = new LongAdder();
  private final LongAdder mismatches = new LongAdder();
  private final LongAdder failed = new LongAdder();
  private final LongAdder timeouts = new LongAdder();
  private final LongAdder messages = new LongAdder();
  private final LongAdder bodyBytes = new LongAdder();
  private final Recorder latencies = new Recorder(3);
  private final Recorder startLags = new Recorder(3);
  private final AtomicReference<@Nullable String> firstError = new AtomicReference<>();

  /** Records a stream of the window that ended. */
  void record(StreamRun run, StreamRun.Outcome outcome, @Nullable String detail) {
    messages.add(run.messagesSent());
    bodyBytes.add(run.bodyBytesSent());
    switch (outcome) {
      case OK -> ok.increment();
      case IMMEDIATE -> immediate.increment();
      case MISMATCH -> mismatches.increment();
      case FAILED -> failed.increment();
      case TIMEOUT -> timeouts.increment();
    }
    if (outcome == StreamRun.Outcome.OK || outcome == StreamRun.Outcome.IMMEDIATE) {
      latencies.recordValue(Math.max(0, run.latencyNanos()));
    } else if (detail != null) {
      firstError.compareAndSet(null, detail);
    }
  }

  /** Records how long after its intended time a stream of the window started (open loop). */
  void recordStartLag(long nanos) {
    startLags.recordValue(Math.max(0, nanos));
  }

  /** What the window came to, with the CPU time the server and this process spent over it. */
  LoadResult result(
      LoadOptions options, double windowSeconds, ProcessCpu.Spent server, ProcessCpu.Spent self) {
    long ended = ok() + immediateResponses() + typeMismatches() + failedStreams() + timeouts();
    return new LoadResult(
        options,
        windowSeconds,
        ended,
        ok(),
        immediateResponses(),
        typeMismatches(),
        failedStreams(),
        timeouts(),
        messages(),
        bodyBytes.sum(),
        latencies.getIntervalHistogram(),
        startLags.getIntervalHistogram(),
        server.nanos(),
        server.source(),
        self.nanos(),
        firstError());
  }

  long ok() {
    return ok.sum();
  }

  long immediateResponses() {
    return immediate.sum();
  }

  long typeMismatches() {
    return mismatches.sum();
  }

  long failedStreams() {
    return failed.sum();
  }

  long timeouts() {
    return timeouts.sum();
  }

  long messages() {
    return messages.sum();
  }

  /** The first error's description, if any stream failed. */
  @Nullable String firstError() {
    return firstError.get();
  }
}
