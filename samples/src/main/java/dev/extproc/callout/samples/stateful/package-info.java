/** The {@code stateful} sample: response decisions from request facts, kept in the context. */
@NullMarked
package dev.extproc.callout.samples.stateful;

import org.jspecify.annotations.NullMarked;
