package dev.extproc.callout.bench;

import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.grpc.CallOptions;
import io.grpc.netty.shaded.io.netty.channel.EventLoop;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;

/**
 * One load run: warm-up, then {@code --repeat} measured windows back to back, then a drain. Every
 * stream starts on its connection's event loop, so its start and first messages go out in one
 * flush, with no cross-thread wake-up. Closed loop: each ending stream starts the next on the same
 * connection, so {@code concurrency} streams stay in flight. Open loop: each connection's event
 * loop starts its share of the streams at their intended times ({@code i / rate} after the
 * beginning, stream {@code i} on connection {@code i mod K}), every stream that is due at once when
 * it wakes, never waiting for replies, so a slow server cannot slow the schedule down and every
 * stream's latency counts from when it should have started (no coordinated omission).
 *
 * <p>Each window counts the streams meant to start in it; those still running when the last window
 * closes are drained (until they end or time out). CPU time is read at every window's edges.
 */
final class LoadRun {

  /** Open loop: streams a lane starts in one go when behind schedule, before it does I/O. */
  private static final int MAX_BATCH = 32;

  private final LoadOptions options;
  private final Script script;
  private final List<Lane> lanes = new ArrayList<>();
  private final List<Measurement> windows = new ArrayList<>();
  private final Set<StreamRun> inFlight = ConcurrentHashMap.newKeySet();
  private final ScheduledExecutorService timer =
      Executors.newSingleThreadScheduledExecutor(
          task -> {
            Thread thread = new Thread(task, "loadgen-timer");
            thread.setDaemon(true);
            return thread;
          });
  private final CountDownLatch schedulesDone;
  private final long beginning;
  private final long windowNanos;
  private final long windowStart;
  private final long windowEnd;

  LoadRun(LoadOptions options, Script script, List<Connections.Connection> connections) {
    this.options = options;
    this.script = script;
    for (int i = 0; i < connections.size(); i++) {
      lanes.add(new Lane(connections.get(i), i));
    }
    for (int i = 0; i < options.repeat(); i++) {
      windows.add(new Measurement());
    }
    this.schedulesDone = new CountDownLatch(options.isOpenLoop() ? lanes.size() : 0);
    this.beginning = System.nanoTime();
    this.windowNanos = options.duration().toNanos();
    this.windowStart = beginning + options.warmup().toNanos();
    this.windowEnd = windowStart + windowNanos * options.repeat();
  }

  /**
   * Runs the load and returns what each window came to, in order.
   *
   * @param server the server process to measure, if any
   * @param self this process, whose CPU time is reported too, if it can be read
   */
  List<LoadResult> execute(@Nullable ProcessCpu server, @Nullable ProcessCpu self)
      throws InterruptedException {
    long sweepMillis = Math.max(1, Math.min(100, options.timeout().toMillis() / 4));
    Future<?> unused =
        timer.scheduleAtFixedRate(
            this::cancelLate, sweepMillis, sweepMillis, TimeUnit.MILLISECONDS);
    try {
      if (options.isOpenLoop()) {
        for (Lane lane : lanes) {
          lane.loop.execute(lane::startDue);
        }
      } else {
        for (int i = 0; i < options.concurrency(); i++) {
          Lane lane = lanes.get(i % lanes.size());
          lane.loop.execute(() -> lane.startStream(System.nanoTime()));
        }
      }
      List<ProcessCpu.@Nullable Snapshot> serverEdges = new ArrayList<>();
      List<ProcessCpu.@Nullable Snapshot> selfEdges = new ArrayList<>();
      for (int edge = 0; edge <= options.repeat(); edge++) {
        parkUntil(windowStart + edge * windowNanos);
        serverEdges.add(server == null ? null : server.snapshot());
        selfEdges.add(self == null ? null : self.snapshot());
      }
      if (!schedulesDone.await(options.timeout().toNanos(), TimeUnit.NANOSECONDS)) {
        throw new IllegalStateException("the open loop's schedule did not end");
      }
      drain();
      List<LoadResult> results = new ArrayList<>();
      for (int i = 0; i < windows.size(); i++) {
        results.add(
            windows
                .get(i)
                .result(
                    options,
                    windowNanos / 1e9,
                    ProcessCpu.between(serverEdges.get(i), serverEdges.get(i + 1)),
                    ProcessCpu.between(selfEdges.get(i), selfEdges.get(i + 1))));
      }
      return results;
    } finally {
      timer.shutdownNow();
    }
  }

  /** The window a stream meant to start at {@code intendedStart} counts in, or -1 for none. */
  private int windowOf(long intendedStart) {
    if (intendedStart - windowStart < 0 || intendedStart - windowEnd >= 0) {
      return -1;
    }
    return (int) ((intendedStart - windowStart) / windowNanos);
  }

  /** One connection with the streams it runs; everything here runs on its event loop. */
  private final class Lane implements StreamRun.Listener {

    private final Connections.Connection connection;
    private final EventLoop loop;
    private final double intervalNanos = 1e9 / options.rate();

    /** Open loop: the index (in the whole schedule) of the next stream this lane starts. */
    private long next;

    Lane(Connections.Connection connection, int index) {
      this.connection = connection;
      this.loop = connection.loop();
      this.next = index;
    }

    /**
     * Open loop: starts the streams of this lane that are due (at most {@link #MAX_BATCH}, then the
     * event loop reads and writes before the rest), then waits for the next one.
     */
    void startDue() {
      long now = System.nanoTime();
      for (int started = 0; ; started++) {
        long intended = beginning + (long) (next * intervalNanos);
        if (intended - windowEnd >= 0) {
          schedulesDone.countDown();
          return;
        }
        if (intended - now > 0) {
          // Netty's scheduler counts from its own clock; a little early is fine: it loops back.
          var unused = loop.schedule(this::startDue, intended - now, TimeUnit.NANOSECONDS);
          return;
        }
        if (started == MAX_BATCH) {
          // Behind schedule: let the replies in (and time-outs out) rather than only starting. A
          // scheduled task (not execute, whose tasks run in the same turn) waits for the next I/O.
          var unused = loop.schedule(this::startDue, 0, TimeUnit.NANOSECONDS);
          return;
        }
        int window = windowOf(intended);
        if (window >= 0) {
          windows.get(window).recordStartLag(now - intended);
        }
        startStream(intended);
        next += lanes.size();
      }
    }

    void startStream(long intendedStart) {
      StreamRun run =
          new StreamRun(
              connection
                  .channel()
                  .newCall(ExternalProcessorGrpc.getProcessMethod(), CallOptions.DEFAULT),
              script,
              this,
              intendedStart,
              windowOf(intendedStart));
      inFlight.add(run);
      run.start();
    }

    @Override
    public void ended(StreamRun run, StreamRun.Outcome outcome, @Nullable String detail) {
      if (!inFlight.remove(run)) {
        return;
      }
      if (run.window() >= 0) {
        windows.get(run.window()).record(run, outcome, detail);
      }
      if (options.isOpenLoop() || System.nanoTime() - windowEnd >= 0) {
        return;
      }
      if (outcome == StreamRun.Outcome.FAILED) {
        // A failure can be immediate (the connection is gone): start the next one a little later,
        // rather than spinning (and recursing) here.
        var unused = loop.schedule(() -> startStream(System.nanoTime()), 1, TimeUnit.MILLISECONDS);
      } else {
        startStream(System.nanoTime());
      }
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
