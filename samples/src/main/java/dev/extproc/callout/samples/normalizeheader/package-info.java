/** The {@code normalize-header} sample: classifies the client device from the host. */
@NullMarked
package dev.extproc.callout.samples.normalizeheader;

import org.jspecify.annotations.NullMarked;
