package dev.extproc.callout.internal;

import dev.extproc.callout.CalloutServerConfig;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/** Creates the executor that runs hooks, as {@link CalloutServerConfig#hookExecutor()} says. */
public final class HookExecutors {

  /** How long an idle pool thread waits for work before it ends. */
  static final Duration POOL_KEEP_ALIVE = Duration.ofSeconds(60);

  /**
   * How long queued hooks may wait behind blocked ones before the pool adds a thread: the most a
   * blocking hook delays the hooks of other streams.
   */
  static final Duration POOL_STALL = Duration.ofMillis(1);

  private HookExecutors() {}

  /**
   * Returns the hook executor, or {@code null} for {@link CalloutServerConfig.HookExecutor#INLINE}
   * (hooks run on the network thread).
   *
   * @param clock runs the pool's stall check
   * @throws IllegalStateException for {@code VIRTUAL} on a JDK without virtual threads
   */
  public static @Nullable ExecutorService create(CalloutServerConfig config, Clock clock) {
    return switch (config.hookExecutor()) {
      case INLINE -> null;
      case VIRTUAL -> virtualThreadPerTask();
      case POOL ->
          new HookPool(
              poolCore(config.hookThreads()),
              config.hookThreads(),
              POOL_KEEP_ALIVE,
              POOL_STALL,
              "callout-hook-",
              clock);
    };
  }

  /**
   * The pool's hot threads, which never time out: one per CPU, as more runnable hook threads than
   * CPUs only take turns; threads past it are added for blocked hooks only.
   */
  static int poolCore(int hookThreads) {
    return Math.min(hookThreads, Runtime.getRuntime().availableProcessors());
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
