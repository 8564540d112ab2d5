/** The {@code observe} sample: observability mode, recording request facts without answering. */
@NullMarked
package dev.extproc.callout.samples.observe;

import org.jspecify.annotations.NullMarked;
