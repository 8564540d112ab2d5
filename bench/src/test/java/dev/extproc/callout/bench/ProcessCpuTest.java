package dev.extproc.callout.bench;

import static com.google.common.truth.Truth.assertThat;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Reading a process's CPU time from /proc, and choosing between its two sources. */
class ProcessCpuTest {

  private static final long TICK = 1_000_000_000L / ProcessCpu.clockTicks();

  @Test
  void statTicks_nameWithSpacesAndParentheses_utimePlusStime() {
    String stat =
        "4242 (java (x) y) S 1 4242 4242 0 -1 4194560 9000 0 3 0 1234 567 0 0 20 0 40 0 100"
            + " 9000000 5000 18446744073709551615 1 1 0 0 0 0 0 4096 17102 0 0 0 17 1 0 0 0 0 0\n";

    assertThat(ProcessCpu.statTicks(stat)).isEqualTo(1234 + 567);
  }

  @Test
  void between_sameThreads_perThreadNanoseconds() {
    ProcessCpu.Snapshot start = new ProcessCpu.Snapshot(Map.of("1", 100L, "2", 1_000L), 10);
    ProcessCpu.Snapshot end =
        new ProcessCpu.Snapshot(Map.of("1", 100L + 5 * TICK, "2", 1_000L, "3", 7L), 15);

    assertThat(ProcessCpu.between(start, end))
        .isEqualTo(new ProcessCpu.Spent(5 * TICK + 7, "schedstat"));
  }

  @Test
  void between_threadExited_ticks() {
    ProcessCpu.Snapshot start = new ProcessCpu.Snapshot(Map.of("1", 0L, "2", 0L), 10);
    ProcessCpu.Snapshot end = new ProcessCpu.Snapshot(Map.of("1", 3 * TICK), 14);

    assertThat(ProcessCpu.between(start, end)).isEqualTo(new ProcessCpu.Spent(4 * TICK, "stat"));
  }

  @Test
  void between_ticksWellAboveThreads_ticks() {
    // A thread that started and ended in between shows in the ticks only.
    ProcessCpu.Snapshot start = new ProcessCpu.Snapshot(Map.of("1", 0L), 0);
    ProcessCpu.Snapshot end = new ProcessCpu.Snapshot(Map.of("1", 10 * TICK), 100);

    assertThat(ProcessCpu.between(start, end)).isEqualTo(new ProcessCpu.Spent(100 * TICK, "stat"));
  }

  @Test
  void between_missingSnapshot_notMeasured() {
    assertThat(ProcessCpu.between(null, new ProcessCpu.Snapshot(Map.of(), 0)).nanos())
        .isEqualTo(-1);
  }

  @Test
  void snapshot_thisProcess_countsTheCpuTimeSpent() {
    ProcessCpu self = new ProcessCpu(ProcessHandle.current().pid());
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    ProcessCpu.Snapshot before = self.snapshot();
    long threadStart = threads.getCurrentThreadCpuTime();
    // Spin until this thread alone has used 30 ms of CPU, however busy the machine is.
    long wallDeadline = System.nanoTime() + 20_000_000_000L;
    while (threads.getCurrentThreadCpuTime() - threadStart < 30_000_000
        && System.nanoTime() < wallDeadline) {
      Thread.onSpinWait();
    }

    ProcessCpu.Spent spent = ProcessCpu.between(before, self.snapshot());

    assertThat(threads.getCurrentThreadCpuTime() - threadStart).isAtLeast(30_000_000L);
    assertThat(spent.nanos()).isAtLeast(30_000_000L);
    assertThat(before.threadNanos()).isNotEmpty();
  }
}
