package dev.extproc.callout.internal;

import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * {@link HookPool}'s stall check, on the server's {@link Clock}: whenever queued tasks have waited
 * {@code stall} with no thread taking any, it counts the pool's threads that run a task and are not
 * {@linkplain BlockedThread blocked}, and while fewer than the core are, it lets the pool add a
 * thread. It ticks only while there was work in the last second: the first task after an idle
 * second starts it again.
 */
final class PoolStallCheck {
  private static final long IDLE_NANOS = TimeUnit.SECONDS.toNanos(1);

  /** How much later than its tick a run may come and still count as on time. */
  private static final long LATE_NANOS = TimeUnit.MILLISECONDS.toNanos(2);

  private final HookPool pool;
  private final Clock clock;
  private final long stallNanos;
  private final Duration tick;
  private final Object lock = new Object();
  private volatile @Nullable ScheduledFuture<?> ticking; // written under lock

  PoolStallCheck(HookPool pool, Duration stall, Clock clock) {
    this.pool = pool;
    this.clock = clock;
    this.stallNanos = stall.toNanos();
    this.tick = Duration.ofNanos(Math.max(stallNanos / 2, TimeUnit.MICROSECONDS.toNanos(100)));
  }

  /** Whether it is ticking (or about to). */
  boolean isOn() {
    return ticking != null;
  }

  /** Starts ticking unless it already is or the pool has stopped. */
  void start() {
    synchronized (lock) {
      if (ticking != null || pool.isStopped()) {
        return;
      }
      try {
        ticking = clock.every(tick, new Run());
      } catch (RejectedExecutionException e) {
        // The clock is closed: the server is stopping, and no thread is added any more.
      }
    }
  }

  /** Stops ticking. */
  void cancel() {
    synchronized (lock) {
      ScheduledFuture<?> self = ticking;
      if (self != null) {
        self.cancel(false);
      }
      ticking = null;
    }
  }

  /** One stretch of ticks, from work after an idle second to the next idle second. */
  private final class Run implements Runnable {
    private long lastWork = System.nanoTime();
    private long lastRun = System.nanoTime();
    private long lateAt = lastRun; // when a run last came late: the process was short of CPU
    private long progress = -1;
    private long progressAt = System.nanoTime();

    @Override
    public void run() {
      long now = System.nanoTime();
      if (now - lastRun > tick.toNanos() + LATE_NANOS) {
        lateAt = now;
      }
      lastRun = now;
      if (pool.tasks.isEmpty()) {
        progressAt = now;
        if (pool.isShutdown() || now - lastWork > IDLE_NANOS) {
          stop();
        }
        return;
      }
      lastWork = now;
      long phases = 0;
      for (HookPool.Worker worker : pool.workers) {
        phases += worker.phase.get();
      }
      if (phases != progress || pool.searching.get() > 0) {
        progress = phases;
        progressAt = now;
        return;
      }
      if (now - progressAt < stallNanos) {
        return;
      }
      int canRun = 0;
      for (HookPool.Worker worker : pool.workers) {
        long phase = worker.phase.get();
        if ((phase & 1) != 0 && !worker.blocked.isBlocked(phase, now, lateAt)) {
          canRun++;
        }
      }
      if (canRun < Math.max(1, pool.coreThreads)) {
        pool.signal(true);
        progressAt = now;
      }
    }

    private void stop() {
      cancel();
      // HookPool.execute reads isOn() after queueing its task: one that still saw this run ticking
      // is caught here (each side writes, then reads what the other wrote).
      if (!pool.tasks.isEmpty()) {
        start();
      }
    }
  }
}
