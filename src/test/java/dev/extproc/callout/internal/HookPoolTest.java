package dev.extproc.callout.internal;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.netty.shaded.io.netty.channel.DefaultEventLoop;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class HookPoolTest {

  private final List<HookPool> pools = new ArrayList<>();
  private final Clock clock = new Clock();

  /** A pool without hot threads: every idle thread ends after the keep-alive. */
  private HookPool pool(int maxThreads, Duration keepAlive) {
    return pool(0, maxThreads, keepAlive);
  }

  private HookPool pool(int coreThreads, int maxThreads, Duration keepAlive) {
    HookPool pool =
        new HookPool(coreThreads, maxThreads, keepAlive, Duration.ofMillis(1), "test-hook-", clock);
    pools.add(pool);
    return pool;
  }

  @AfterEach
  void stop() throws InterruptedException {
    for (HookPool pool : pools) {
      pool.shutdownNow();
      assertThat(pool.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
    }
    clock.close();
  }

  @Test
  void tasksQueuedInOneEventLoopIterationRunOnOneThread() throws Exception {
    HookPool pool = pool(8, Duration.ofSeconds(60));
    Set<String> threads = ConcurrentHashMap.newKeySet();
    CountDownLatch done = new CountDownLatch(20);
    DefaultEventLoop loop = new DefaultEventLoop();
    try {
      // Twenty hooks handed over in one iteration of the loop wake one thread, after the
      // iteration: that thread runs them all.
      loop.execute(
          () -> {
            for (int i = 0; i < 20; i++) {
              pool.execute(
                  () -> {
                    threads.add(Thread.currentThread().getName());
                    done.countDown();
                  });
            }
          });
      assertThat(done.await(5, TimeUnit.SECONDS)).isTrue();
    } finally {
      assertThat(loop.shutdownGracefully(0, 0, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS))
          .isTrue();
    }
    assertThat(threads).hasSize(1);
  }

  @Test
  void aBlockedTaskDelaysTheOthersQueuedBehindItByAboutTheStallTime() throws Exception {
    HookPool pool = pool(8, Duration.ofSeconds(60));
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch blocked = new CountDownLatch(1);
    CountDownLatch quick = new CountDownLatch(10);
    DefaultEventLoop loop = new DefaultEventLoop();
    try {
      loop.execute(
          () -> {
            pool.execute(
                () -> {
                  blocked.countDown();
                  awaitQuietly(release);
                });
            for (int i = 0; i < 10; i++) {
              pool.execute(quick::countDown);
            }
          });
      assertThat(blocked.await(5, TimeUnit.SECONDS)).isTrue();
      long start = System.nanoTime();
      // The first task blocks its thread; the stall check hands the queue to another thread.
      assertThat(quick.await(5, TimeUnit.SECONDS)).isTrue();
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(1));
      assertThat(release.getCount()).isEqualTo(1); // still blocked meanwhile
    } finally {
      release.countDown();
      assertThat(loop.shutdownGracefully(0, 0, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS))
          .isTrue();
    }
  }

  @Test
  void aBusyThreadIsNeverTheOnlyOneForTasksFromOtherThreads() throws Exception {
    HookPool pool = pool(4, Duration.ofSeconds(60));
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch started = new CountDownLatch(1);
    pool.execute(
        () -> {
          started.countDown();
          awaitQuietly(release);
        });
    assertThat(started.await(5, TimeUnit.SECONDS)).isTrue();
    CountDownLatch next = new CountDownLatch(1);
    try {
      pool.execute(next::countDown);
      assertThat(next.await(5, TimeUnit.SECONDS)).isTrue();
    } finally {
      release.countDown();
    }
  }

  @Test
  void withEveryThreadBusyTasksWaitForTheFirstToFinish() throws Exception {
    HookPool pool = pool(2, Duration.ofSeconds(60));
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch running = new CountDownLatch(2);
    for (int i = 0; i < 2; i++) {
      pool.execute(
          () -> {
            running.countDown();
            awaitQuietly(release);
          });
    }
    assertThat(running.await(5, TimeUnit.SECONDS)).isTrue();
    CountDownLatch third = new CountDownLatch(1);
    pool.execute(third::countDown);
    assertThat(third.await(100, TimeUnit.MILLISECONDS)).isFalse(); // no third thread
    release.countDown();
    assertThat(third.await(5, TimeUnit.SECONDS)).isTrue();
  }

  @Test
  void idleThreadsEndAfterTheKeepAlive() throws Exception {
    HookPool pool = pool(4, Duration.ofMillis(50));
    AtomicBoolean ran = new AtomicBoolean();
    CountDownLatch done = new CountDownLatch(1);
    pool.execute(
        () -> {
          ran.set(true);
          done.countDown();
        });
    assertThat(done.await(5, TimeUnit.SECONDS)).isTrue();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (liveWorkers() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(liveWorkers()).isEqualTo(0);
    // And a new task starts a new one.
    CountDownLatch again = new CountDownLatch(1);
    pool.execute(again::countDown);
    assertThat(again.await(5, TimeUnit.SECONDS)).isTrue();
    assertThat(ran.get()).isTrue();
  }

  @Test
  void shutdownRunsWhatIsQueuedThenRejects() throws Exception {
    HookPool pool = pool(1, Duration.ofSeconds(60));
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch ran = new CountDownLatch(3);
    pool.execute(
        () -> {
          awaitQuietly(release);
          ran.countDown();
        });
    pool.execute(ran::countDown);
    pool.execute(ran::countDown);
    pool.shutdown();
    assertThat(pool.isShutdown()).isTrue();
    RejectedExecutionException e =
        assertThrows(RejectedExecutionException.class, () -> pool.execute(() -> {}));
    assertThat(e).hasMessageThat().isEqualTo("the hook executor is shut down");
    assertThat(pool.awaitTermination(50, TimeUnit.MILLISECONDS)).isFalse();
    release.countDown();
    assertThat(pool.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
    assertThat(ran.getCount()).isEqualTo(0);
    assertThat(pool.isTerminated()).isTrue();
  }

  @Test
  void shutdownNowInterruptsRunningTasksAndReturnsQueuedOnes() throws Exception {
    HookPool pool = pool(1, Duration.ofSeconds(60));
    CountDownLatch started = new CountDownLatch(1);
    AtomicBoolean interrupted = new AtomicBoolean();
    pool.execute(
        () -> {
          started.countDown();
          try {
            Thread.sleep(60_000);
          } catch (InterruptedException e) {
            interrupted.set(true);
          }
        });
    assertThat(started.await(5, TimeUnit.SECONDS)).isTrue();
    Runnable queued = () -> {};
    pool.execute(queued);
    assertThat(pool.shutdownNow()).containsExactly(queued);
    assertThat(pool.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
    assertThat(interrupted.get()).isTrue();
  }

  @Test
  void aTaskThatThrowsDoesNotCostTheThread() throws Exception {
    HookPool pool = pool(1, Duration.ofSeconds(60));
    pool.execute(
        () -> {
          throw new IllegalStateException("boom (expected by the test)");
        });
    CountDownLatch next = new CountDownLatch(1);
    pool.execute(next::countDown);
    assertThat(next.await(5, TimeUnit.SECONDS)).isTrue();
  }

  @Test
  void aSleepingTaskDelaysAQuickOneByAboutTheStallTimeNotItsSleep() throws Exception {
    HookPool pool = pool(1, 8, Duration.ofSeconds(60));
    List<Duration> delays = new ArrayList<>();
    for (int round = 0; round < 5; round++) {
      CountDownLatch sleeping = new CountDownLatch(1);
      pool.execute(
          () -> {
            sleeping.countDown();
            sleepQuietly(Duration.ofMillis(50));
          });
      assertThat(sleeping.await(5, TimeUnit.SECONDS)).isTrue();
      CountDownLatch quick = new CountDownLatch(1);
      long start = System.nanoTime();
      pool.execute(quick::countDown);
      assertThat(quick.await(5, TimeUnit.SECONDS)).isTrue();
      delays.add(Duration.ofNanos(System.nanoTime() - start));
      Thread.sleep(60); // the sleeper returns and idles
    }
    // The stall check ticks every 0.5 ms and adds a thread after 1 ms: about 1-2 ms, far below
    // the 50 ms sleep even on a busy test machine.
    delays.sort(null);
    assertThat(delays.get(2)).isLessThan(Duration.ofMillis(20));
  }

  @Test
  void aTaskBlockedInNativeCodeCountsAsBlocked() throws Exception {
    HookPool pool = pool(1, 8, Duration.ofSeconds(60));
    try (ServerSocket listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        Socket client = new Socket(listener.getInetAddress(), listener.getLocalPort());
        Socket peer = listener.accept()) {
      assertThat(peer.isConnected()).isTrue();
      CountDownLatch reading = new CountDownLatch(1);
      // A socket read that never returns: the thread is RUNNABLE in native code, using no CPU.
      pool.execute(
          () -> {
            reading.countDown();
            try {
              int read = client.getInputStream().read();
              assertThat(read).isEqualTo(-1);
            } catch (IOException e) {
              // closed by the test
            }
          });
      assertThat(reading.await(5, TimeUnit.SECONDS)).isTrue();
      CountDownLatch next = new CountDownLatch(1);
      long start = System.nanoTime();
      pool.execute(next::countDown);

      assertThat(next.await(5, TimeUnit.SECONDS)).isTrue();
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isAtLeast(BlockedThread.NATIVE_BLOCK);
    }
  }

  @Test
  void tasksThatComputeDoNotGrowThePoolPastTheCore() throws Exception {
    HookPool pool = pool(1, 8, Duration.ofSeconds(60));
    CountDownLatch spinning = new CountDownLatch(1);
    AtomicBoolean stop = new AtomicBoolean();
    pool.execute(
        () -> {
          spinning.countDown();
          while (!stop.get()) {
            Thread.onSpinWait(); // RUNNABLE and using a CPU: another thread would only compete
          }
        });
    CountDownLatch queued = new CountDownLatch(10);
    try {
      assertThat(spinning.await(5, TimeUnit.SECONDS)).isTrue();
      for (int i = 0; i < 10; i++) {
        pool.execute(queued::countDown);
      }

      assertThat(queued.await(200, TimeUnit.MILLISECONDS)).isFalse();
      assertThat(liveWorkers()).isEqualTo(1);
    } finally {
      stop.set(true);
    }
    assertThat(queued.await(5, TimeUnit.SECONDS)).isTrue();
    assertThat(liveWorkers()).isEqualTo(1);
  }

  @Test
  void coreThreadsOutliveTheKeepAliveAndThreadsPastItDoNot() throws Exception {
    HookPool pool = pool(1, 4, Duration.ofMillis(50));
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch running = new CountDownLatch(3);
    for (int i = 0; i < 3; i++) {
      pool.execute(
          () -> {
            running.countDown();
            awaitQuietly(release);
          });
    }
    // Blocked tasks grow the pool past its core.
    assertThat(running.await(5, TimeUnit.SECONDS)).isTrue();
    assertThat(liveWorkers()).isEqualTo(3);
    release.countDown();

    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (liveWorkers() > 1 && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    Thread.sleep(200); // four keep-alives more

    assertThat(liveWorkers()).isEqualTo(1);
    CountDownLatch again = new CountDownLatch(1);
    pool.execute(again::countDown);
    assertThat(again.await(5, TimeUnit.SECONDS)).isTrue();
    assertThat(liveWorkers()).isEqualTo(1);
  }

  @Test
  void tasksFromOneThreadWhileAllThreadsIdleWakeOneThread() throws Exception {
    HookPool pool = pool(4, 8, Duration.ofSeconds(60));
    Set<String> threads = ConcurrentHashMap.newKeySet();
    for (int round = 0; round < 3; round++) {
      CountDownLatch done = new CountDownLatch(20);
      for (int i = 0; i < 20; i++) {
        pool.execute(
            () -> {
              threads.add(Thread.currentThread().getName());
              done.countDown();
            });
      }
      assertThat(done.await(5, TimeUnit.SECONDS)).isTrue();
      Thread.sleep(20);
    }
    // Quick tasks never leave every awake thread busy for long: the core of four is not all woken.
    assertThat(threads.size()).isAtMost(2);
  }

  private static int liveWorkers() {
    int count = 0;
    for (Thread thread : Thread.getAllStackTraces().keySet()) {
      if (thread.isAlive() && thread.getName().startsWith("test-hook-")) {
        count++;
      }
    }
    return count;
  }

  private static void sleepQuietly(Duration duration) {
    try {
      Thread.sleep(duration.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void awaitQuietly(CountDownLatch latch) {
    try {
      latch.await(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
