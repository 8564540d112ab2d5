package dev.extproc.callout;

import java.util.Map;
import java.util.TreeMap;

/**
 * Counts the live threads of this JVM that a leak would add to. Left out: grpc-java's shared pools
 * ({@code grpc-*}: event loops, executor, timer), bounded by the CPU count and shared with the
 * tests' own clients, and the server's own bounded pools (hooks, health exchanges), whose idle
 * threads linger for a while and which are checked through {@link #busyPoolThreads()} instead.
 */
public final class ThreadCensus {

  private ThreadCensus() {}

  /** Live threads other than grpc-java's shared pools and the hook pool. */
  public static int otherThreads() {
    int count = 0;
    for (Thread thread : Thread.getAllStackTraces().keySet()) {
      if (thread.isAlive() && !isShared(thread) && !isPoolThread(thread)) {
        count++;
      }
    }
    return count;
  }

  /**
   * Threads of the server's pools (hooks, health exchanges) doing something other than waiting for
   * their next task.
   */
  public static int busyPoolThreads() {
    int busy = 0;
    for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
      if (isPoolThread(e.getKey()) && e.getKey().isAlive() && !waitsForTask(e.getValue())) {
        busy++;
      }
    }
    return busy;
  }

  /** Counts live threads by name with the digits removed, for failure messages. */
  public static String describe() {
    Map<String, Integer> names = new TreeMap<>();
    for (Thread thread : Thread.getAllStackTraces().keySet()) {
      names.merge(thread.getName().replaceAll("[0-9]+", "N"), 1, Integer::sum);
    }
    return " " + names;
  }

  private static boolean isShared(Thread thread) {
    return thread.getName().startsWith("grpc-");
  }

  private static boolean isPoolThread(Thread thread) {
    return thread.getName().startsWith("callout-hook-")
        || thread.getName().startsWith("callout-health-");
  }

  private static boolean waitsForTask(StackTraceElement[] stack) {
    for (StackTraceElement frame : stack) {
      if (frame.getClassName().equals("java.util.concurrent.ThreadPoolExecutor")
          && frame.getMethodName().equals("getTask")) {
        return true;
      }
      if (frame.getClassName().startsWith("dev.extproc.callout.internal.HookPool")
          && frame.getMethodName().equals("awaitWake")) {
        return true; // an idle hook thread
      }
    }
    return stack.length == 0; // terminated since the census began
  }
}
