/**
 * The load generator ({@link dev.extproc.callout.bench.LoadGen}), the floor server it is compared
 * with ({@link dev.extproc.callout.bench.FloorServer}), {@link
 * dev.extproc.callout.bench.OpenStreams}, which holds many streams open, and {@link
 * dev.extproc.callout.bench.GrpcModeRun}, one large GRPC-mode call under a small heap: tools run
 * from {@code target/callout-bench.jar}, not framework API.
 */
@NullMarked
package dev.extproc.callout.bench;

import org.jspecify.annotations.NullMarked;
