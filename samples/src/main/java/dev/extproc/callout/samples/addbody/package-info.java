/** The {@code add-body} sample: body replacement that appends to the request body. */
@NullMarked
package dev.extproc.callout.samples.addbody;

import org.jspecify.annotations.NullMarked;
