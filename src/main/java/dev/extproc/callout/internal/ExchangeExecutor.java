package dev.extproc.callout.internal;

import java.time.Duration;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * Runs the exchanges of a JDK {@code HttpServer}: each on a thread of its own, at most {@code
 * maxExchanges} at once, none for longer than {@code timeLimit}.
 *
 * <p>The JDK server reads a request's line and headers with blocking reads on the thread it hands
 * the exchange to, so a client that sends them slowly (a slow loris) holds that thread. Here such a
 * client holds one thread of many, and only until the time limit, when the thread is interrupted:
 * its socket channel is interruptible, so the read fails, the channel closes and the server drops
 * the connection. Past {@code maxExchanges} the server closes a new connection at once (it closes
 * any connection whose exchange is refused). Connections that send nothing hold no thread. The time
 * limits run on the server's {@link Clock}.
 */
final class ExchangeExecutor implements Executor {

  private final ThreadPoolExecutor threads;
  private final Clock clock;
  private final Duration limit;

  ExchangeExecutor(int maxExchanges, Duration timeLimit, String threadPrefix, Clock clock) {
    this.limit = timeLimit;
    this.clock = clock;
    this.threads =
        new ThreadPoolExecutor(
            0,
            maxExchanges,
            10,
            TimeUnit.SECONDS,
            new SynchronousQueue<>(),
            HookExecutors.namedThreads(threadPrefix));
  }

  /**
   * Runs {@code exchange} on a free thread.
   *
   * @throws java.util.concurrent.RejectedExecutionException when {@code maxExchanges} are running
   */
  @Override
  public void execute(Runnable exchange) {
    threads.execute(() -> runLimited(exchange));
  }

  private void runLimited(Runnable exchange) {
    Deadline deadline = new Deadline(Thread.currentThread());
    @Nullable ScheduledFuture<?> expiry;
    try {
      expiry = clock.after(limit, deadline::expire);
    } catch (RejectedExecutionException e) {
      expiry = null; // the server is stopping: stop() interrupts this exchange anyway
    }
    try {
      exchange.run();
    } finally {
      if (expiry != null) {
        expiry.cancel(false);
      }
      deadline.finish();
    }
  }

  /** Interrupts every running exchange (closing its connection) and stops the threads. */
  void shutdownNow() {
    threads.shutdownNow();
  }

  /**
   * One exchange's time limit: interrupts its thread if it is still running, never after it has
   * finished (the thread may be serving the next exchange by then).
   */
  private static final class Deadline {
    private final Thread thread;
    private boolean finished;

    Deadline(Thread thread) {
      this.thread = thread;
    }

    synchronized void expire() {
      if (!finished) {
        thread.interrupt();
      }
    }

    /** Marks the exchange over and clears an interrupt that came too late to matter. */
    synchronized void finish() {
      finished = true;
      Thread.interrupted();
    }
  }
}
