package dev.extproc.callout.internal;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.netty.shaded.io.netty.channel.DefaultEventLoop;
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

  private HookPool pool(int maxThreads, Duration keepAlive) {
    HookPool pool = new HookPool(maxThreads, keepAlive, Duration.ofMillis(1), "test-hook-");
    pools.add(pool);
    return pool;
  }

  @AfterEach
  void stop() throws InterruptedException {
    for (HookPool pool : pools) {
      pool.shutdownNow();
      assertThat(pool.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
    }
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
      // The first task blocks its thread; the monitor hands the queue to another thread.
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

  private static int liveWorkers() {
    int count = 0;
    for (Thread thread : Thread.getAllStackTraces().keySet()) {
      if (thread.isAlive()
          && thread.getName().startsWith("test-hook-")
          && !thread.getName().endsWith("monitor")) {
        count++;
      }
    }
    return count;
  }

  private static void awaitQuietly(CountDownLatch latch) {
    try {
      latch.await(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
