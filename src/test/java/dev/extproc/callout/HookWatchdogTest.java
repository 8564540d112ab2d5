package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;

import dev.extproc.callout.internal.Clock;
import java.time.Duration;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The watchdog on its own: what it scans, how often, and with which deadline. */
final class HookWatchdogTest {

  /** The watchdog's clock, as the server would own it; closed after each test. */
  private final Clock clock = new Clock();

  @AfterEach
  void closeClock() {
    clock.close();
  }

  /** Counts the checks it gets and remembers the deadlines passed. */
  private static final class Watched implements StreamRegistry.Stream {
    final AtomicInteger checks = new AtomicInteger();
    final ConcurrentLinkedQueue<Long> deadlines = new ConcurrentLinkedQueue<>();
    final CountDownLatch checkedTwice = new CountDownLatch(2);

    @Override
    public void checkHook(long nowNanos, long deadlineNanos) {
      checks.incrementAndGet();
      deadlines.add(deadlineNanos);
      checkedTwice.countDown();
    }
  }

  @Test
  void addedStream_checkedEachTick_withTheDeadline() throws Exception {
    StreamRegistry registry = new StreamRegistry(0, Duration.ofMillis(40), clock);
    Watched stream = new Watched();
    try {
      registry.add(stream);

      // A tick is a twentieth of the deadline, 2 ms here: two checks come well within a second.
      assertThat(stream.checkedTwice.await(1, TimeUnit.SECONDS)).isTrue();
      assertThat(stream.deadlines).contains(Duration.ofMillis(40).toNanos());
    } finally {
      registry.close();
    }
  }

  @Test
  void noDeadline_cancelledHooksStillChecked_withZero() throws Exception {
    StreamRegistry registry = new StreamRegistry(0, Duration.ZERO, clock);
    Watched stream = new Watched();
    try {
      registry.add(stream);

      // At most 100 ms a tick without a deadline.
      assertThat(stream.checkedTwice.await(2, TimeUnit.SECONDS)).isTrue();
      assertThat(stream.deadlines).containsNoneOf(1L, -1L);
      assertThat(stream.deadlines.peek()).isEqualTo(0L);
    } finally {
      registry.close();
    }
  }

  @Test
  void releasedStream_notCheckedAnymore() throws Exception {
    StreamRegistry registry = new StreamRegistry(0, Duration.ofMillis(20), clock);
    Watched stream = new Watched();
    try {
      registry.add(stream);
      assertThat(stream.checkedTwice.await(1, TimeUnit.SECONDS)).isTrue();

      registry.release(stream);
      Thread.sleep(10); // a check already under way may still land
      int checks = stream.checks.get();
      Thread.sleep(50);

      assertThat(stream.checks.get()).isEqualTo(checks);
    } finally {
      registry.close();
    }
  }

  @Test
  void closed_streamsNoLongerChecked() throws Exception {
    StreamRegistry registry = new StreamRegistry(0, Duration.ofMillis(20), clock);
    Watched stream = new Watched();
    registry.add(stream);
    assertThat(stream.checkedTwice.await(1, TimeUnit.SECONDS)).isTrue();

    registry.close();
    Thread.sleep(10);
    int checks = stream.checks.get();
    Thread.sleep(50);

    assertThat(stream.checks.get()).isEqualTo(checks);
  }
}
