/**
 * The bundled load generator ({@link dev.extproc.callout.bench.LoadGen}) and the floor server it is
 * compared with ({@link dev.extproc.callout.bench.FloorServer}): tools that ship in the runnable
 * jar, not framework API.
 */
@NullMarked
package dev.extproc.callout.bench;

import org.jspecify.annotations.NullMarked;
