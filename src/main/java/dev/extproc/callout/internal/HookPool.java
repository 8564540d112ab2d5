package dev.extproc.callout.internal;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code pool} hook executor: platform threads that take tasks from one queue, a thread woken
 * only when none is already looking for work, and a stall check on the server's {@link Clock} that
 * adds a thread when queued tasks wait behind blocked ones.
 *
 * <p>Waking a thread for every message costs two context switches per message (there and back),
 * which on a busy server is most of what a callout costs. Here a thread that is awake and looking
 * for work (or already woken and on its way) is never woken again: a burst of messages wakes one
 * thread, which runs the whole burst, and a thread that finishes a task takes the next queued one
 * without sleeping. Before it sleeps, a thread that ran out of work yields once, so a network
 * thread it preempted when woken can hand over the rest of its batch first. Tasks queued while
 * every awake thread runs one wake another of the {@code coreThreads} hot threads (the most
 * recently idle first, its cache warm); those never time out.
 *
 * <p>Past the core the pool grows only for blocked hooks. Whenever tasks have waited {@code stall}
 * with no thread taking any, the {@linkplain PoolStallCheck stall check} counts the threads running
 * a task that are not {@linkplain BlockedThread blocked}; while fewer than the core are, it adds a
 * thread, up to {@code maxThreads}. A hook that sleeps therefore delays the others queued behind it
 * by at most about the stall time, once; hooks that compute, or threads that wait for a CPU
 * (starvation), do not make it grow. Idle threads past the core end after {@code keepAlive}; the
 * stall check runs only while there was work in the last second.
 */
final class HookPool extends AbstractExecutorService {
  private static final Logger logger = LoggerFactory.getLogger(HookPool.class);

  private static final int RUNNING = 0;
  private static final int SHUTDOWN = 1;
  private static final int STOP = 2;
  final int coreThreads;
  private final int maxThreads;
  private final long keepAliveNanos;
  private final ThreadFactory workerThreads;
  private final PoolStallCheck stallCheck;
  final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
  private final ConcurrentLinkedDeque<Worker> idle = new ConcurrentLinkedDeque<>();
  final Set<Worker> workers = ConcurrentHashMap.newKeySet();

  /** Threads alive. */
  private final AtomicInteger threads = new AtomicInteger();

  /**
   * Threads awake and not running a task, or woken and about to be: while it is above zero, a new
   * task needs no wake, as one of them will take it.
   */
  final AtomicInteger searching = new AtomicInteger();

  private final Object stateLock = new Object();
  private volatile int state = RUNNING;

  /**
   * @param coreThreads threads kept however long they idle; the pool starts up to this many (at
   *     least one) without a stall
   * @param maxThreads the most threads at once
   * @param keepAlive how long an idle thread past the core waits for work before it ends
   * @param stall how long queued tasks may wait with no thread taking any before another is added
   * @param prefix the threads' name prefix (a counter follows)
   * @param clock runs the stall check
   */
  HookPool(
      int coreThreads,
      int maxThreads,
      Duration keepAlive,
      Duration stall,
      String prefix,
      Clock clock) {
    if (maxThreads < 1) {
      throw new IllegalArgumentException("maxThreads: " + maxThreads + " (expected: >= 1)");
    }
    if (coreThreads < 0 || coreThreads > maxThreads) {
      throw new IllegalArgumentException(
          "coreThreads: " + coreThreads + " (expected: 0.." + maxThreads + ")");
    }
    this.coreThreads = coreThreads;
    this.maxThreads = maxThreads;
    this.keepAliveNanos = keepAlive.toNanos();
    this.workerThreads = HookExecutors.namedThreads(prefix);
    this.stallCheck = new PoolStallCheck(this, stall, clock);
  }

  @Override
  public void execute(Runnable task) {
    if (state != RUNNING) {
      throw new RejectedExecutionException("the hook executor is shut down");
    }
    tasks.offer(task);
    if (!stallCheck.isOn()) {
      stallCheck.start();
    }
    if (searching.get() == 0) {
      signal(false);
    }
  }

  /**
   * Wakes (or starts) a thread when tasks wait and no thread is looking for one; starts one past
   * the core only when {@code grow}.
   */
  void signal(boolean grow) {
    if (searching.get() > 0 || tasks.isEmpty()) {
      return;
    }
    Worker worker = idle.pollFirst();
    if (worker != null) {
      searching.incrementAndGet();
      worker.wake();
      return;
    }
    int limit = grow ? maxThreads : Math.max(1, coreThreads);
    int count;
    do {
      count = threads.get();
      if (count >= limit) {
        return; // every thread is running a task: the queue waits for one to finish or stall
      }
    } while (!threads.compareAndSet(count, count + 1));
    searching.incrementAndGet();
    Worker started = new Worker();
    workers.add(started);
    try {
      started.thread.start();
    } catch (Throwable e) { // OutOfMemoryError: unable to create a native thread, for one
      workers.remove(started);
      searching.decrementAndGet();
      threads.decrementAndGet();
      logger.error("cannot start a hook thread ({} running)", threads.get(), e);
    }
  }

  final class Worker implements Runnable {
    final Thread thread;
    private volatile boolean woken;
    private boolean retired; // its place in threads already given up

    /**
     * Odd while running a task, even between tasks: published for the stall check, which reads
     * progress and business from it without a shared counter every thread writes.
     */
    final AtomicLong phase = new AtomicLong();

    private long phases; // this thread's own copy of phase

    /** The stall check's view of this thread (the clock's thread only). */
    final BlockedThread blocked;

    Worker() {
      thread = workerThreads.newThread(this);
      blocked = new BlockedThread(thread);
    }

    void wake() {
      woken = true;
      LockSupport.unpark(thread);
    }

    @Override
    public void run() {
      try {
        work();
      } finally {
        workers.remove(this);
        if ((retired ? threads.get() : threads.decrementAndGet()) == 0 && state != RUNNING) {
          synchronized (stateLock) {
            stateLock.notifyAll();
          }
        }
      }
    }

    /** Starts counted as searching; returns when the thread should end. */
    @SuppressWarnings("ThreadPriorityCheck") // one yield per batch; see below
    private void work() {
      boolean yielded = false;
      while (true) {
        Runnable task = tasks.poll();
        if (task != null) {
          searching.decrementAndGet();
          phase.lazySet(++phases);
          runTask(task);
          phase.lazySet(++phases);
          searching.incrementAndGet();
          yielded = false;
          continue;
        }
        if (!yielded) {
          // The thread that woke this one may have been preempted by it in the middle of handing
          // over a batch (the scheduler favours a thread just woken): let it finish first, while
          // this thread still counts as searching, so the rest of the batch runs here instead of
          // waking this thread task by task. On an otherwise idle CPU this returns at once.
          yielded = true;
          Thread.yield();
          continue;
        }
        if (state != RUNNING) {
          searching.decrementAndGet();
          return;
        }
        woken = false;
        idle.addFirst(this);
        searching.decrementAndGet();
        // A task queued before this thread was listed as idle saw it searching and woke no one.
        if (!tasks.isEmpty() || state != RUNNING) {
          if (idle.remove(this)) {
            searching.incrementAndGet();
            continue;
          }
          // Already taken off the list by a waker, which counted it as searching: wait for it.
        }
        if (!awaitWake()) {
          return;
        }
      }
    }

    /**
     * Parks until woken (true) or, idle past the keep-alive and not needed for the core, taken off
     * the idle list (false).
     */
    private boolean awaitWake() {
      long deadline = System.nanoTime() + keepAliveNanos;
      boolean timedOut = false;
      while (!woken) {
        long left = deadline - System.nanoTime();
        if (!timedOut && left <= 0) {
          if (retire()) {
            return false;
          }
          timedOut = true; // a core thread, or a waker has it and its wake is on the way
        }
        if (timedOut) {
          LockSupport.park(this);
        } else {
          LockSupport.parkNanos(this, left);
        }
      }
      return true;
    }

    /**
     * Ends this idle thread if it is past the core and no waker has taken it. Its place is given up
     * first, so threads that time out together cannot all leave and empty the core.
     */
    private boolean retire() {
      for (int count = threads.get(); count > coreThreads; count = threads.get()) {
        if (threads.compareAndSet(count, count - 1)) {
          if (idle.remove(this)) {
            retired = true;
            return true;
          }
          threads.incrementAndGet(); // a waker has it
          return false;
        }
      }
      return false;
    }

    private void runTask(Runnable task) {
      // An interrupt left over from the previous task (the watchdog's) is not for this one; once
      // stopping, every task sees one.
      Thread.interrupted();
      if (state == STOP) {
        thread.interrupt();
      }
      try {
        task.run();
      } catch (Throwable e) {
        logger.error("a hook task failed outside any hook (a bug in the framework)", e);
      }
    }
  }

  // ---- Life cycle ----

  @Override
  public void shutdown() {
    synchronized (stateLock) {
      if (state == RUNNING) {
        state = SHUTDOWN;
      }
    }
    // Idle threads wake, run what is still queued, and end; the stall check keeps watching them.
    for (Worker worker = idle.pollFirst(); worker != null; worker = idle.pollFirst()) {
      searching.incrementAndGet();
      worker.wake();
    }
    if (!tasks.isEmpty()) {
      stallCheck.start();
    }
    signal(false);
  }

  @Override
  public List<Runnable> shutdownNow() {
    shutdown();
    state = STOP;
    List<Runnable> left = new ArrayList<>();
    for (Runnable task = tasks.poll(); task != null; task = tasks.poll()) {
      left.add(task);
    }
    for (Worker worker : workers) {
      worker.thread.interrupt();
    }
    stallCheck.cancel();
    return left;
  }

  /** Whether {@link #shutdownNow()} was called. */
  boolean isStopped() {
    return state == STOP;
  }

  @Override
  public boolean isShutdown() {
    return state != RUNNING;
  }

  @Override
  public boolean isTerminated() {
    return state != RUNNING && threads.get() == 0;
  }

  @Override
  public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
    long deadline = System.nanoTime() + unit.toNanos(timeout);
    synchronized (stateLock) {
      while (!isTerminated()) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        TimeUnit.NANOSECONDS.timedWait(stateLock, left);
      }
      return true;
    }
  }
}
