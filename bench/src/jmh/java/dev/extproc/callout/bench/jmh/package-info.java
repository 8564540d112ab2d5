/**
 * JMH benchmarks of the engine's per-message work ({@link
 * dev.extproc.callout.bench.jmh.EngineBenchmark}) and of the {@link
 * dev.extproc.callout.CalloutTools} helpers ({@link
 * dev.extproc.callout.bench.jmh.CalloutToolsBenchmark}), through the framework's public API. Run
 * them with {@code bench/jmh.sh}.
 */
@NullMarked
package dev.extproc.callout.bench.jmh;

import org.jspecify.annotations.NullMarked;
