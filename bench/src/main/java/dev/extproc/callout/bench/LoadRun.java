package dev.extproc.callout.bench;

import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.grpc.CallOptions;
import io.grpc.Channel;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;

/**
 * One load run: warm-up, then the measured window, then a drain. Closed loop: each ending stream
 * starts the next on its transport thread, so {@code concurrency} streams stay in flight. Open
 * loop: a thread of its own starts streams at their intended times ({@code i / rate} after the
 * beginning), never waiting for replies, so a slow server cannot slow the schedule down and every
 * stream's latency counts from when it should have started (no coordinated omission).
 *
 * <p>The window counts the streams meant to start in it; those still running when it closes are
 * drained (until they end or time out). CPU time is read at the window's two edges.
 */
final class LoadRun implements StreamRun.Listener {

  private final LoadOptions options;
  private final Script script;
  private final List<? extends Channel> channels;
  private final Measurement measurement = new Measurement();
  private final Set<StreamRun> inFlight = ConcurrentHashMap.newKeySet();
  private final AtomicLong nextChannel = new AtomicLong();
  private final ScheduledExecutorService timer =
      Executors.newSingleThreadScheduledExecutor(
          task -> {
            Thread thread = new Thread(task, "loadgen-timer");
            thread.setDaemon(true);
            return thread;
          });
  private final long windowStart;
  private final long windowEnd;

  LoadRun(LoadOptions options, Script script, List<? extends Channel> channels) {
    this.options = options;
    this.script = script;
    this.channels = List.copyOf(channels);
    long beginning = System.nanoTime();
    this.windowStart = beginning + options.warmup().toNanos();
    this.windowEnd = windowStart + options.duration().toNanos();
  }

  /**
   * Runs the load and returns what the window came to.
   *
   * @param server the server process to measure, if any
   * @param self this process, whose CPU time is reported too, if it can be read
   */
  LoadResult execute(@Nullable ProcessCpu server, @Nullable ProcessCpu self)
      throws InterruptedException {
    long sweepMillis = Math.max(1, Math.min(100, options.timeout().toMillis() / 4));
    Future<?> unused =
        timer.scheduleAtFixedRate(
            this::cancelLate, sweepMillis, sweepMillis, TimeUnit.MILLISECONDS);
    Thread openLoop = null;
    try {
      if (options.isOpenLoop()) {
        openLoop = new Thread(this::runOpenLoop, "loadgen-open-loop");
        openLoop.setDaemon(true);
        openLoop.start();
      } else {
        for (int i = 0; i < options.concurrency(); i++) {
          startStream(System.nanoTime());
        }
      }
      parkUntil(windowStart);
      ProcessCpu.Snapshot serverStart = server == null ? null : server.snapshot();
      ProcessCpu.Snapshot selfStart = self == null ? null : self.snapshot();
      parkUntil(windowEnd);
      ProcessCpu.Snapshot serverEnd = server == null ? null : server.snapshot();
      ProcessCpu.Snapshot selfEnd = self == null ? null : self.snapshot();
      if (openLoop != null) {
        openLoop.join();
      }
      drain();
      ProcessCpu.Spent serverSpent = ProcessCpu.between(serverStart, serverEnd);
      ProcessCpu.Spent selfSpent = ProcessCpu.between(selfStart, selfEnd);
      long ended =
          measurement.ok()
              + measurement.immediateResponses()
              + measurement.typeMismatches()
              + measurement.failedStreams()
              + measurement.timeouts();
      return new LoadResult(
          options,
          options.duration().toNanos() / 1e9,
          ended,
          measurement.ok(),
          measurement.immediateResponses(),
          measurement.typeMismatches(),
          measurement.failedStreams(),
          measurement.timeouts(),
          measurement.messages(),
          measurement.takeLatencies(),
          serverSpent.nanos(),
          serverSpent.source(),
          selfSpent.nanos(),
          measurement.firstError());
    } finally {
      timer.shutdownNow();
      if (openLoop != null) {
        openLoop.interrupt();
      }
    }
  }

  private void runOpenLoop() {
    double intervalNanos = 1e9 / options.rate();
    long beginning = windowStart - options.warmup().toNanos();
    for (long i = 0; ; i++) {
      long intended = beginning + (long) (i * intervalNanos);
      if (intended - windowEnd >= 0 || Thread.currentThread().isInterrupted()) {
        return;
      }
      parkUntil(intended);
      startStream(intended);
    }
  }

  private void startStream(long intendedStart) {
    Channel channel = channels.get((int) (nextChannel.getAndIncrement() % channels.size()));
    boolean measured = intendedStart - windowStart >= 0 && intendedStart - windowEnd < 0;
    StreamRun run =
        new StreamRun(
            channel.newCall(ExternalProcessorGrpc.getProcessMethod(), CallOptions.DEFAULT),
            script,
            this,
            intendedStart,
            measured);
    inFlight.add(run);
    run.start();
  }

  @Override
  public void ended(StreamRun run, StreamRun.Outcome outcome, @Nullable String detail) {
    if (!inFlight.remove(run)) {
      return;
    }
    if (run.isMeasured()) {
      measurement.record(run, outcome, detail);
    }
    if (options.isOpenLoop() || System.nanoTime() - windowEnd >= 0) {
      return;
    }
    if (outcome == StreamRun.Outcome.FAILED) {
      // A failure can be immediate (the connection is gone): start the next one a little later
      // and from another thread, rather than spinning (and recursing) on this one.
      Future<?> unused =
          timer.schedule(() -> startStream(System.nanoTime()), 1, TimeUnit.MILLISECONDS);
    } else {
      startStream(System.nanoTime());
    }
  }

  private void cancelLate() {
    long now = System.nanoTime();
    long timeout = options.timeout().toNanos();
    for (StreamRun run : inFlight) {
      if (now - run.intendedStartNanos() > timeout) {
        run.timeOut();
      }
    }
  }

  /** Waits for the streams still running to end, at most until each would have timed out. */
  private void drain() throws InterruptedException {
    long deadline = System.nanoTime() + options.timeout().toNanos() + TimeUnit.SECONDS.toNanos(2);
    while (!inFlight.isEmpty() && System.nanoTime() - deadline < 0) {
      Thread.sleep(2);
    }
  }

  private static void parkUntil(long nanoTime) {
    for (long left = nanoTime - System.nanoTime(); left > 0; left = nanoTime - System.nanoTime()) {
      LockSupport.parkNanos(left);
      if (Thread.currentThread().isInterrupted()) {
        return;
      }
    }
  }
}
