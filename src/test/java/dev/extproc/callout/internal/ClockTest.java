package dev.extproc.callout.internal;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ClockTest {

  private static final String NAME = "test-clock";

  private final Clock clock = new Clock(NAME, Duration.ofMillis(200));

  @AfterEach
  void close() {
    clock.close();
  }

  @Test
  void every_runsOnTheClockThreadUntilCancelled() throws Exception {
    AtomicReference<String> thread = new AtomicReference<>();
    CountDownLatch three = new CountDownLatch(3);
    ScheduledFuture<?> job =
        clock.every(
            Duration.ofMillis(5),
            () -> {
              thread.set(Thread.currentThread().getName());
              three.countDown();
            });

    assertThat(three.await(5, TimeUnit.SECONDS)).isTrue();
    job.cancel(false);

    assertThat(thread.get()).isEqualTo(NAME);
    assertThat(job.isCancelled()).isTrue();
  }

  @Test
  void every_jobThrows_keepsItsSchedule() throws Exception {
    AtomicInteger runs = new AtomicInteger();
    CountDownLatch again = new CountDownLatch(2);
    ScheduledFuture<?> job =
        clock.every(
            Duration.ofMillis(5),
            () -> {
              runs.incrementAndGet();
              again.countDown();
              throw new IllegalStateException("boom (expected by the test)");
            });

    assertThat(again.await(5, TimeUnit.SECONDS)).isTrue();
    job.cancel(false);

    assertThat(runs.get()).isAtLeast(2);
  }

  @Test
  void after_runsOnceUnlessCancelled() throws Exception {
    CountDownLatch ran = new CountDownLatch(1);
    AtomicInteger cancelledRuns = new AtomicInteger();
    ScheduledFuture<?> cancelled =
        clock.after(Duration.ofMillis(50), cancelledRuns::incrementAndGet);
    cancelled.cancel(false);
    var unused = clock.after(Duration.ofMillis(10), ran::countDown);

    assertThat(ran.await(5, TimeUnit.SECONDS)).isTrue();
    Thread.sleep(100);

    assertThat(cancelledRuns.get()).isEqualTo(0);
  }

  @Test
  void thread_startsWithTheFirstJobAndEndsWhenNothingIsScheduled() throws Exception {
    awaitClockThreads(0); // none for a clock without jobs (a closed one's may still be ending)

    CountDownLatch ran = new CountDownLatch(1);
    var unused = clock.after(Duration.ZERO, ran::countDown);
    assertThat(ran.await(5, TimeUnit.SECONDS)).isTrue();
    assertThat(clockThreads()).isEqualTo(1);

    awaitClockThreads(0);
    // And the next job starts it again.
    CountDownLatch again = new CountDownLatch(1);
    var unused2 = clock.after(Duration.ZERO, again::countDown);
    assertThat(again.await(5, TimeUnit.SECONDS)).isTrue();
  }

  @Test
  void close_endsTheThreadAndRejectsLaterJobs() throws Exception {
    ScheduledFuture<?> job = clock.every(Duration.ofMillis(5), () -> {});

    clock.close();

    assertThat(job.isCancelled()).isTrue();
    awaitClockThreads(0);
    assertThrows(RejectedExecutionException.class, () -> clock.after(Duration.ZERO, () -> {}));
  }

  private static void awaitClockThreads(int expected) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (clockThreads() != expected && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(clockThreads()).isEqualTo(expected);
  }

  /** This test's clock threads alive. */
  private static int clockThreads() {
    int count = 0;
    for (Thread thread : Thread.getAllStackTraces().keySet()) {
      if (thread.isAlive() && thread.getName().equals(NAME)) {
        count++;
      }
    }
    return count;
  }
}
