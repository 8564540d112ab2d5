package dev.extproc.callout;

import dev.extproc.callout.internal.Clock;
import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * Ends streams whose hook overruns {@link CalloutServerConfig#hookDeadline()} and interrupts hooks
 * whose stream was cancelled, so neither holds a thread forever.
 *
 * <p>A job on the server's {@link Clock}, scheduled with the first stream, looks at every stream of
 * the {@link StreamRegistry} each tick (a twentieth of the deadline, between 1 ms and 100 ms). A
 * hook therefore costs nothing extra per message beyond a clock read and two volatile writes, and a
 * deadline fires at most one tick late. The job cancels itself after {@link #IDLE} without streams
 * and is scheduled again with the next one.
 */
final class HookWatchdog implements AutoCloseable {

  private static final long MIN_TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
  private static final long MAX_TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
  private static final Duration IDLE = Duration.ofSeconds(1);

  private final long deadlineNanos;
  private final Duration tick;
  private final Clock clock;
  private final StreamRegistry registry;
  private final Object lock = new Object();
  private @Nullable ScheduledFuture<?> job; // under lock
  private volatile boolean scheduled;
  private boolean closed; // under lock
  private long idleSince; // the clock's thread only, once scheduled

  HookWatchdog(Duration deadline, StreamRegistry registry, Clock clock) {
    this.registry = registry;
    this.deadlineNanos = deadline.toNanos();
    this.tick =
        Duration.ofNanos(
            deadlineNanos == 0
                ? MAX_TICK_NANOS
                : Math.max(MIN_TICK_NANOS, Math.min(MAX_TICK_NANOS, deadlineNanos / 20)));
    this.clock = clock;
  }

  /** The per-message deadline in nanoseconds; 0 for none. */
  long deadlineNanos() {
    return deadlineNanos;
  }

  /** A stream was added to the registry: schedules the check unless it is scheduled. */
  void watch() {
    if (!scheduled) {
      schedule();
    }
  }

  private void schedule() {
    synchronized (lock) {
      if (scheduled || closed) {
        return;
      }
      idleSince = System.nanoTime();
      try {
        job = clock.every(tick, this::check);
        scheduled = true;
      } catch (RejectedExecutionException e) {
        closed = true; // the server is closing: its streams are no longer watched
      }
    }
  }

  private void check() {
    long now = System.nanoTime();
    if (!registry.streams().isEmpty()) {
      idleSince = now;
      for (StreamRegistry.Stream stream : registry.streams()) {
        stream.checkHook(now, deadlineNanos);
      }
    } else if (now - idleSince > IDLE.toNanos()) {
      synchronized (lock) {
        if (job != null) {
          job.cancel(false);
          job = null;
        }
        scheduled = false;
      }
      // A stream added just before scheduled turned false saw it still true: schedule for it.
      if (!registry.streams().isEmpty()) {
        schedule();
      }
    }
  }

  /** Stops watching; streams still open are no longer watched. */
  @Override
  public void close() {
    synchronized (lock) {
      closed = true;
      if (job != null) {
        job.cancel(false);
        job = null;
      }
    }
  }
}
