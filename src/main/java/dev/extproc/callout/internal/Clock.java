package dev.extproc.callout.internal;

import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A server's one timer thread: hook deadlines, the hook pool's stall check, certificate polling and
 * health request deadlines all run on it, so a server has one thread for periodic work however many
 * kinds of it there are.
 *
 * <p>The thread starts with the first job and ends once no job has been pending for {@link
 * #IDLE_EXIT} (each periodic job cancels itself when it has nothing to watch), so a server that is
 * not closed leaves no thread behind; the next job starts it again. Jobs must be short: they share
 * the thread.
 */
public final class Clock implements AutoCloseable {
  private static final Logger logger = LoggerFactory.getLogger(Clock.class);

  /** The name of the clock's thread. */
  public static final String THREAD_NAME = "callout-clock";

  /** How long the thread waits with nothing scheduled before it ends. */
  static final Duration IDLE_EXIT = Duration.ofSeconds(5);

  private final ScheduledThreadPoolExecutor executor;

  /** Creates a clock; its thread starts with the first job. */
  public Clock() {
    this(THREAD_NAME, IDLE_EXIT);
  }

  Clock(String threadName, Duration idleExit) {
    executor =
        new ScheduledThreadPoolExecutor(
            1,
            task -> {
              Thread thread = new Thread(task, threadName);
              thread.setDaemon(true);
              return thread;
            });
    executor.setRemoveOnCancelPolicy(true);
    executor.setKeepAliveTime(idleExit.toNanos(), TimeUnit.NANOSECONDS);
    executor.allowCoreThreadTimeOut(true);
    executor.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
    executor.setContinueExistingPeriodicTasksAfterShutdownPolicy(false);
  }

  /**
   * Runs {@code job} every {@code period} (the first time one period from now) until the returned
   * future is cancelled. A job that throws is logged and keeps its schedule.
   *
   * @throws RejectedExecutionException once the clock is closed
   */
  public ScheduledFuture<?> every(Duration period, Runnable job) {
    long nanos = Math.max(1, period.toNanos());
    return executor.scheduleWithFixedDelay(
        () -> runQuietly(job), nanos, nanos, TimeUnit.NANOSECONDS);
  }

  /**
   * Runs {@code job} once after {@code delay}, unless the returned future is cancelled first.
   *
   * @throws RejectedExecutionException once the clock is closed
   */
  public ScheduledFuture<?> after(Duration delay, Runnable job) {
    return executor.schedule(() -> runQuietly(job), delay.toNanos(), TimeUnit.NANOSECONDS);
  }

  private static void runQuietly(Runnable job) {
    try {
      job.run();
    } catch (RuntimeException e) {
      logger.error("a timer job failed (a bug in the framework)", e);
    }
  }

  /**
   * Cancels every job and ends the thread once a job running now returns; later jobs are rejected.
   * Idempotent.
   */
  @Override
  public void close() {
    executor.shutdown(); // with the policies set above, this cancels every scheduled job
  }
}
