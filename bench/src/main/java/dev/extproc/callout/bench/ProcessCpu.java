package dev.extproc.callout.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * The CPU time a local process spent, from Linux's {@code /proc}: per thread in nanoseconds from
 * {@code /proc/PID/task/TID/schedstat}, and for the whole process (exited threads included) in
 * clock ticks from {@code utime + stime} of {@code /proc/PID/stat}.
 */
final class ProcessCpu {

  /** Clock ticks per second when {@code getconf CLK_TCK} cannot tell (Linux's usual value). */
  static final long ASSUMED_CLOCK_TICKS = 100;

  private static volatile long clockTicks;

  private final long pid;
  private final Path proc;

  ProcessCpu(long pid) {
    this.pid = pid;
    this.proc = Path.of("/proc", Long.toString(pid));
  }

  /** The process's CPU time so far. */
  record Snapshot(Map<String, Long> threadNanos, long ticks) {}

  /**
   * CPU time spent between two snapshots.
   *
   * @param source {@code schedstat} (per-thread nanoseconds) or {@code stat} (clock ticks, used
   *     when threads exited in between, which per-thread sums would miss)
   */
  record Spent(long nanos, String source) {}

  long pid() {
    return pid;
  }

  /**
   * Reads the process's CPU time now.
   *
   * @throws UncheckedIOException if the process does not exist or {@code /proc} cannot be read
   */
  Snapshot snapshot() {
    try {
      Map<String, Long> threads = new HashMap<>();
      try (DirectoryStream<Path> tasks = Files.newDirectoryStream(proc.resolve("task"))) {
        for (Path task : tasks) {
          try {
            String schedstat = Files.readString(task.resolve("schedstat"), StandardCharsets.UTF_8);
            threads.put(task.getFileName().toString(), Long.parseLong(firstField(schedstat)));
          } catch (NoSuchFileException exited) {
            // The thread ended while the directory was read: /proc/PID/stat still counts it.
          }
        }
      }
      return new Snapshot(
          threads, statTicks(Files.readString(proc.resolve("stat"), StandardCharsets.UTF_8)));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the CPU time of process " + pid, e);
    }
  }

  /**
   * The CPU time between {@code start} and {@code end}: the per-thread sum unless a thread of
   * {@code start} is gone or the tick count says more ran than the threads show (a thread that came
   * and went in between), in which case the ticks; -1 nanoseconds when either is missing.
   */
  static Spent between(@Nullable Snapshot start, @Nullable Snapshot end) {
    if (start == null || end == null) {
      return new Spent(-1, "none");
    }
    long threadNanos = 0;
    boolean threadExited = false;
    for (Map.Entry<String, Long> thread : start.threadNanos().entrySet()) {
      if (!end.threadNanos().containsKey(thread.getKey())) {
        threadExited = true;
      }
    }
    for (Map.Entry<String, Long> thread : end.threadNanos().entrySet()) {
      threadNanos += thread.getValue() - start.threadNanos().getOrDefault(thread.getKey(), 0L);
    }
    long tickNanos = (end.ticks() - start.ticks()) * (TimeUnit.SECONDS.toNanos(1) / clockTicks());
    // Ticks are coarse (10 ms at 100 Hz), read at slightly different instants: two ticks and 2% of
    // slack before deciding that threads were missed.
    long slack = 2 * TimeUnit.SECONDS.toNanos(1) / clockTicks() + threadNanos / 50;
    if (threadExited || tickNanos > threadNanos + slack) {
      return new Spent(tickNanos, "stat");
    }
    return new Spent(threadNanos, "schedstat");
  }

  /** Clock ticks per second: {@code getconf CLK_TCK}, or {@value #ASSUMED_CLOCK_TICKS}. */
  static long clockTicks() {
    if (clockTicks == 0) {
      clockTicks = askGetconf();
    }
    return clockTicks;
  }

  private static long askGetconf() {
    try {
      Process getconf = new ProcessBuilder("getconf", "CLK_TCK").redirectErrorStream(true).start();
      String out = new String(getconf.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
      if (getconf.waitFor(5, TimeUnit.SECONDS) && getconf.exitValue() == 0) {
        long ticks = Long.parseLong(out.trim());
        if (ticks > 0) {
          return ticks;
        }
      }
    } catch (IOException | NumberFormatException e) {
      // Fall through to the usual value.
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return ASSUMED_CLOCK_TICKS;
  }

  /** {@code utime + stime} from a {@code /proc/PID/stat} line, whose name may hold spaces. */
  static long statTicks(String stat) {
    String[] fields = stat.substring(stat.lastIndexOf(')') + 2).trim().split(" +", -1);
    // After "pid (comm) ", fields[0] is field 3 (state): utime is field 14, stime field 15.
    return Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
  }

  private static String firstField(String line) {
    String trimmed = line.trim();
    int space = trimmed.indexOf(' ');
    return space < 0 ? trimmed : trimmed.substring(0, space);
  }
}
