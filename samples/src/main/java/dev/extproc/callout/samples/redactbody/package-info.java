/** The {@code redact-body} sample: e-mail addresses masked in a streamed response body. */
@NullMarked
package dev.extproc.callout.samples.redactbody;

import org.jspecify.annotations.NullMarked;
