package dev.extproc.callout.internal;

import io.grpc.netty.shaded.io.netty.util.concurrent.EventExecutor;
import io.grpc.netty.shaded.io.netty.util.internal.ThreadExecutorMap;
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
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code pool} hook executor: platform threads that take tasks from one queue, woken once per
 * network-loop iteration rather than once per task, and a monitor that adds a thread when queued
 * tasks wait behind running ones.
 *
 * <p>Waking a thread for every message costs two context switches per message (there and back),
 * which on a busy server is most of what a callout costs. Here a task submitted from a Netty event
 * loop only queues; the loop wakes one idle thread after it has read everything that arrived
 * together, and that thread runs the whole batch. A thread that is awake and looking for work is
 * never woken again. Batching is safe for blocking hooks because of the monitor: whenever tasks
 * have waited {@link #stallNanos} with no thread taking any (each running one may be blocked), it
 * wakes or starts another thread, up to {@code maxThreads}. A hook that sleeps therefore delays the
 * others queued behind it by at most about that long, once. Idle threads (the most recently idle is
 * woken first, its cache warm) end after {@code keepAlive}; the monitor ticks only while there was
 * work in the last second.
 */
final class HookPool extends AbstractExecutorService {
  private static final Logger logger = LoggerFactory.getLogger(HookPool.class);

  private static final int RUNNING = 0;
  private static final int SHUTDOWN = 1;
  private static final int STOP = 2;
  private static final long MONITOR_IDLE_NANOS = TimeUnit.SECONDS.toNanos(1);

  private final int maxThreads;
  private final long keepAliveNanos;
  private final long stallNanos;
  private final String prefix;
  private final ThreadFactory workerThreads;
  private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
  private final ConcurrentLinkedDeque<Worker> idle = new ConcurrentLinkedDeque<>();
  private final Set<Worker> workers = ConcurrentHashMap.newKeySet();
  private final ConcurrentHashMap<EventExecutor, LoopSignal> loopSignals =
      new ConcurrentHashMap<>();

  /** Threads alive. */
  private final AtomicInteger threads = new AtomicInteger();

  /** Threads awake and not running a task (or woken and about to be). */
  private final AtomicInteger searching = new AtomicInteger();

  /** When a thread last took a task ({@link System#nanoTime()}). */
  private final AtomicLong lastTaken = new AtomicLong(System.nanoTime());

  private final Object stateLock = new Object();
  private volatile int state = RUNNING;
  private volatile boolean monitorParked;
  private volatile @Nullable Thread monitor; // written under stateLock

  /**
   * @param maxThreads the most threads at once
   * @param keepAlive how long an idle thread waits for work before it ends
   * @param stall how long queued tasks may wait with no thread taking any before another is added
   * @param prefix the threads' name prefix (a counter follows)
   */
  HookPool(int maxThreads, Duration keepAlive, Duration stall, String prefix) {
    if (maxThreads < 1) {
      throw new IllegalArgumentException("maxThreads: " + maxThreads + " (expected: >= 1)");
    }
    this.maxThreads = maxThreads;
    this.keepAliveNanos = keepAlive.toNanos();
    this.stallNanos = stall.toNanos();
    this.prefix = prefix;
    this.workerThreads = HookExecutors.namedThreads(prefix);
  }

  @Override
  public void execute(Runnable task) {
    if (state != RUNNING) {
      throw new RejectedExecutionException("the hook executor is shut down");
    }
    tasks.offer(task);
    if (monitor == null) {
      startMonitor();
    } else if (monitorParked) {
      wakeMonitor();
    }
    if (searching.get() > 0) {
      return;
    }
    EventExecutor loop = ThreadExecutorMap.currentExecutor();
    if (loop == null) {
      signal();
      return;
    }
    LoopSignal loopSignal = loopSignals.get(loop);
    if (loopSignal == null) {
      loopSignal = loopSignals.computeIfAbsent(loop, LoopSignal::new);
    }
    loopSignal.schedule();
  }

  /** Wakes (or starts) a thread when tasks wait and no thread is looking for one. */
  private void signal() {
    if (searching.get() > 0 || tasks.isEmpty()) {
      return;
    }
    Worker worker = idle.pollFirst();
    if (worker != null) {
      searching.incrementAndGet();
      worker.wake();
      return;
    }
    int count;
    do {
      count = threads.get();
      if (count >= maxThreads) {
        return; // every thread is running a task: the queue waits for the first to finish
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

  /** Once per event loop: wakes a thread after the loop has handed over everything it read. */
  private final class LoopSignal implements Runnable {
    private final EventExecutor loop;
    private boolean scheduled; // touched by the loop's own thread only

    LoopSignal(EventExecutor loop) {
      this.loop = loop;
    }

    void schedule() {
      if (scheduled) {
        return;
      }
      scheduled = true;
      try {
        loop.execute(this); // runs after the loop's current batch of reads
      } catch (RejectedExecutionException e) {
        scheduled = false;
        signal();
      }
    }

    @Override
    public void run() {
      scheduled = false;
      signal();
    }
  }

  private final class Worker implements Runnable {
    final Thread thread;
    private volatile boolean woken;

    Worker() {
      thread = workerThreads.newThread(this);
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
        if (threads.decrementAndGet() == 0 && state != RUNNING) {
          synchronized (stateLock) {
            stateLock.notifyAll();
          }
        }
      }
    }

    /** Starts counted as searching; returns when the thread should end. */
    private void work() {
      while (true) {
        Runnable task = tasks.poll();
        if (task != null) {
          searching.decrementAndGet();
          lastTaken.lazySet(System.nanoTime());
          runTask(task);
          searching.incrementAndGet();
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

    /** Parks until woken (true) or, idle past the keep-alive, taken off the idle list (false). */
    private boolean awaitWake() {
      long deadline = System.nanoTime() + keepAliveNanos;
      boolean timedOut = false;
      while (!woken) {
        long left = deadline - System.nanoTime();
        if (!timedOut && left <= 0) {
          if (idle.remove(this)) {
            return false;
          }
          timedOut = true; // a waker has it: its wake is on the way
        }
        if (timedOut) {
          LockSupport.park(this);
        } else {
          LockSupport.parkNanos(this, left);
        }
      }
      return true;
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

  // ---- The monitor ----

  private void wakeMonitor() {
    synchronized (stateLock) {
      if (monitorParked) {
        monitorParked = false;
        if (monitor != null) {
          LockSupport.unpark(monitor);
        }
      }
    }
  }

  private void startMonitor() {
    synchronized (stateLock) {
      if (monitor == null && state == RUNNING) {
        Thread thread = new Thread(this::watch, prefix + "monitor");
        thread.setDaemon(true);
        monitor = thread;
        thread.start();
      }
    }
  }

  /** Adds a thread whenever tasks have waited {@code stallNanos} and no thread took any. */
  private void watch() {
    long tick = Math.max(stallNanos / 2, TimeUnit.MICROSECONDS.toNanos(100));
    long lastWork = System.nanoTime();
    while (state != STOP) {
      LockSupport.parkNanos(this, tick);
      long now = System.nanoTime();
      if (!tasks.isEmpty()) {
        lastWork = now;
        if (searching.get() == 0 && now - lastTaken.get() > stallNanos) {
          signal();
        }
      } else if (state != RUNNING) {
        return;
      } else if (now - lastWork > MONITOR_IDLE_NANOS
          && now - lastTaken.get() > MONITOR_IDLE_NANOS) {
        synchronized (stateLock) {
          monitorParked = true;
        }
        // The next execute() unparks it; one that queued its task before seeing the flag is
        // caught here (each side writes, then reads what the other wrote).
        if (!tasks.isEmpty()) {
          monitorParked = false;
        }
        while (monitorParked && state == RUNNING) {
          LockSupport.park(this);
        }
        lastWork = System.nanoTime();
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
      monitorParked = false;
      if (monitor != null) {
        LockSupport.unpark(monitor);
      }
    }
    // Idle threads wake, run what is still queued, and end.
    for (Worker worker = idle.pollFirst(); worker != null; worker = idle.pollFirst()) {
      searching.incrementAndGet();
      worker.wake();
    }
    signal();
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
    return left;
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
