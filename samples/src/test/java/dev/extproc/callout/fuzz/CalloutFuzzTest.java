package dev.extproc.callout.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.extproc.callout.samples.SampleTargets;

/**
 * The coverage-guided fuzz test (Jazzer): each input picks a target, the engine under a scripted
 * hook set ({@link EngineTargets}) or one of the bundled samples ({@link SampleTargets}), and plays
 * one fuzzed stream on it. One test for all targets, because Jazzer fuzzes a single test per JVM
 * and every fuzzing JVM pays for Jazzer's start (a scan of the whole class path).
 *
 * <p>Run by the {@code fuzz} surefire execution of {@code mvn verify}: every committed input in
 * {@code CalloutFuzzTestInputs/fuzz} first (the regression run), then a fixed number of fuzzed
 * inputs from a fixed seed. README, "Fuzzing", has the longer run.
 */
class CalloutFuzzTest {

  @FuzzTest
  void fuzz(FuzzedDataProvider data) {
    int target = data.consumeInt(0, EngineTargets.count() + SampleTargets.count() - 1);
    if (target < EngineTargets.count()) {
      EngineTargets.run(target, data);
    } else {
      SampleTargets.run(target - EngineTargets.count(), data);
    }
  }
}
