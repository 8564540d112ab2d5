package dev.extproc.callout.internal;

import dev.extproc.callout.CalloutServerConfig;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/** Creates the executor that runs hooks, as {@link CalloutServerConfig#hookExecutor()} says. */
public final class HookExecutors {

  private HookExecutors() {}

  /**
   * Returns the hook executor, or {@code null} for {@link CalloutServerConfig.HookExecutor#INLINE}
   * (hooks run on the network thread).
   *
   * @throws IllegalStateException for {@code VIRTUAL} on a JDK without virtual threads
   */
  public static @Nullable ExecutorService create(CalloutServerConfig config) {
    return switch (config.hookExecutor()) {
      case INLINE -> null;
      case VIRTUAL -> virtualThreadPerTask();
      case POOL -> {
        // A hand-off queue: a task goes to an idle thread (the most recently idle one, whose
        // cache is warm) or to a new thread up to the limit, so the pool holds only as many
        // threads as hooks actually run at once. With every thread busy, the task runs on the
        // thread that submitted it (the network thread): the load slows down instead of queueing
        // without bound.
        ThreadPoolExecutor pool =
            new ThreadPoolExecutor(
                0,
                config.hookThreads(),
                60,
                TimeUnit.SECONDS,
                new SynchronousQueue<>(),
                namedThreads("callout-hook-"),
                HookExecutors::runInCaller);
        yield pool;
      }
    };
  }

  private static void runInCaller(Runnable task, ThreadPoolExecutor pool) {
    if (pool.isShutdown()) {
      throw new RejectedExecutionException("the hook executor is shut down");
    }
    task.run();
  }

  /** Daemon threads named {@code prefix} and a counter. */
  static ThreadFactory namedThreads(String prefix) {
    AtomicInteger count = new AtomicInteger();
    return task -> {
      Thread thread = new Thread(task, prefix + count.incrementAndGet());
      thread.setDaemon(true);
      return thread;
    };
  }

  // The project compiles for Java 17, so the JDK 21 factory is looked up at run time.
  private static ExecutorService virtualThreadPerTask() {
    try {
      return (ExecutorService)
          MethodHandles.publicLookup()
              .findStatic(
                  java.util.concurrent.Executors.class,
                  "newVirtualThreadPerTaskExecutor",
                  MethodType.methodType(ExecutorService.class))
              .invoke();
    } catch (NoSuchMethodException | IllegalAccessException e) {
      throw new IllegalStateException(
          "hook executor 'virtual' needs JDK 21 or newer (running "
              + Runtime.version().feature()
              + ")",
          e);
    } catch (Throwable e) {
      throw new IllegalStateException("cannot create the virtual thread executor", e);
    }
  }
}
