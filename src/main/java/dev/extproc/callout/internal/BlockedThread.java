package dev.extproc.callout.internal;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * Tells whether a pool thread running a task is blocked, for {@link HookPool}'s stall check: a
 * blocked thread holds a task without using a CPU, so another thread helps, whereas one that is
 * computing or merely waiting for a CPU (starvation) would only compete with the new one.
 *
 * <p>Waiting in Java (a lock, a sleep, a future) shows in {@link Thread.State}. A thread blocked in
 * native code, such as a socket read, is {@link Thread.State#RUNNABLE} like a computing one; it
 * counts as blocked once its CPU time has not moved for {@link #NATIVE_BLOCK} within one task while
 * the checking thread itself ran on time: a process starved of CPU (an overloaded host, a throttled
 * container) delays the checks too, and each late check starts the wait over. Used by the clock's
 * thread only.
 */
final class BlockedThread {

  /** How long a RUNNABLE thread must use no CPU within one task to count as blocked. */
  static final Duration NATIVE_BLOCK = Duration.ofMillis(50);

  private final Thread thread;
  private long cpuSeen = -1;
  private long cpuSeenAt;
  private long taskSeen = -1;

  BlockedThread(Thread thread) {
    this.thread = thread;
  }

  /**
   * Whether the thread is blocked now ({@link System#nanoTime()}) in its task number {@code task};
   * {@code lateAt} is when a check last ran late, itself short of CPU.
   */
  boolean isBlocked(long task, long now, long lateAt) {
    switch (thread.getState()) {
      case BLOCKED, WAITING, TIMED_WAITING -> {
        return true;
      }
      case RUNNABLE -> {
        long cpu = CpuTime.of(thread);
        if (cpu < 0 || cpu != cpuSeen || task != taskSeen || cpuSeenAt - lateAt <= 0) {
          cpuSeen = cpu;
          cpuSeenAt = now;
          taskSeen = task;
          return false;
        }
        return now - cpuSeenAt >= NATIVE_BLOCK.toNanos();
      }
      default -> {
        return false;
      }
    }
  }

  /** Per-thread CPU time, looked up only when the pool stalls (it loads the management beans). */
  private static final class CpuTime {
    private static final @Nullable ThreadMXBean BEAN = bean();

    private static @Nullable ThreadMXBean bean() {
      try {
        ThreadMXBean bean = ManagementFactory.getThreadMXBean();
        return bean.isThreadCpuTimeSupported() && bean.isThreadCpuTimeEnabled() ? bean : null;
      } catch (RuntimeException | LinkageError e) { // no java.management module
        return null;
      }
    }

    /** The thread's CPU time in nanoseconds, or -1 when unknown. */
    static long of(Thread thread) {
      ThreadMXBean bean = BEAN;
      return bean == null ? -1 : bean.getThreadCpuTime(thread.getId());
    }
  }
}
