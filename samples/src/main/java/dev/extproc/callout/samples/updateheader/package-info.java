/** The {@code update-header} sample: header overwrites with an explicit append action. */
@NullMarked
package dev.extproc.callout.samples.updateheader;

import org.jspecify.annotations.NullMarked;
