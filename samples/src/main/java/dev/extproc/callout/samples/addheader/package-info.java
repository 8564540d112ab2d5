/** The {@code add-header} sample: header mutations on request and response headers. */
@NullMarked
package dev.extproc.callout.samples.addheader;

import org.jspecify.annotations.NullMarked;
